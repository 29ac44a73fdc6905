// The chat template of `mqg serve` for GPT-2 models, which have none of their own: each message
// as a labelled turn, then the assistant's label for the turn the model writes. The prompt starts
// with the end-of-text token, as every `mqg sample` prompt does.
//
//   <|endoftext|>System: {system or developer message}\n\n
//   User: {user message}\n\n
//   Assistant: {assistant message}\n\n
//   ...
//   Assistant:
//
// The reply is what the model writes after "Assistant:", its leading whitespace dropped, up to the
// end-of-text token, a line that starts the user's next turn ("\nUser:"), a `stop` sequence or
// max_tokens. docs/commands.md documents it (`mqg serve`).

import { RequestError } from '../../util/errors';

/** One chat message as the server takes it (content already flattened to text). */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

const LABEL: Record<ChatMessage['role'], string> = { system: 'System', user: 'User', assistant: 'Assistant' };

/** Where a chat reply also ends: the model starting the user's next turn. */
export const CHAT_STOP = ['\nUser:'];

/** The prompt text of a conversation (without the leading end-of-text token). */
export function renderChat(messages: readonly ChatMessage[]): string {
  return messages.map((m) => `${LABEL[m.role]}: ${m.content}\n\n`).join('') + `${LABEL.assistant}:`;
}

/** An OpenAI message's content (a string, or an array of text parts) as text. */
function contentText(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((part, i) => {
      const p = part as { type?: unknown; text?: unknown } | null;
      if (p?.type !== 'text' || typeof p.text !== 'string') throw new RequestError(`${param}[${i}]: only text parts ({"type": "text", "text": "..."}) are supported`, `${param}[${i}]`);
      return p.text;
    }).join('');
  }
  throw new RequestError(`${param} must be a string or an array of text parts`, param);
}

/** The `messages` of a chat request, checked: roles system / developer (as system) / user / assistant, text content. */
export function parseMessages(messages: unknown): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) throw new RequestError('messages must be a non-empty array of {role, content}', 'messages');
  return messages.map((m, i) => {
    const param = `messages[${i}]`;
    if (typeof m !== 'object' || m === null) throw new RequestError(`${param} must be an object {role, content}`, param);
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (role !== 'system' && role !== 'developer' && role !== 'user' && role !== 'assistant') {
      throw new RequestError(`${param}.role must be system, developer, user or assistant; got ${JSON.stringify(role)}`, `${param}.role`);
    }
    return { role: role === 'developer' ? 'system' : role, content: contentText(content ?? '', `${param}.content`) };
  });
}
