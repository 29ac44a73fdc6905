// The scripted endpoint's book and replies, shared by the library and CLI tests of `mqg questions`:
// a Markdown book of eleven sections, each with a marker [[name]] that tells the scripted server
// (tests/helpers/chat-server.ts) how to answer the passage's request.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Action, Call } from '../helpers/chat-server';

export const KEY = 'sk-test-5ecret-KEY-0123456789';

export const BOOK = `# Cardiology

## Valves
[[valid]] The mitral valve lies between the left atrium and the left ventricle. The tricuspid valve lies between the right atrium and the right ventricle.

## Conduction
[[fenced]] Each heartbeat begins in the sinoatrial node in the wall of the right atrium.

## Digoxin
[[malformed]] Digoxin slows conduction through the atrioventricular node.

## Beta blockers
[[invalid]] Beta blockers slow the heart rate and lower blood pressure.

## Nitrates
[[ungrounded]] Nitrates relieve angina by dilating veins.

## Infarction
[[case]] Myocardial infarction presents with crushing chest pain, and troponin rises within hours.

# Kidney

## Filtration
[[r429]] The glomerulus filters plasma into Bowman's capsule.

## Concentration
[[r500]] Antidiuretic hormone makes the collecting duct permeable to water.

## Acid base
[[slow]] The proximal tubule reabsorbs most of the filtered bicarbonate.

## Potassium
[[drop]] Aldosterone increases potassium secretion in the collecting duct.

## Anemia
[[echo]] Erythropoietin from the kidney stimulates red cell production.
`;

/** A question whose first `correct.length` options are the correct ones. */
export function q(stem: string, correct: string[], wrong: string[]): object {
  return { question: stem, options: [...correct, ...wrong], answers: correct.map((_, i) => String.fromCharCode(65 + i)), explanation: `${stem} (explained)` };
}

const WRONG = ['The liver', 'The spleen', 'The thyroid gland', 'The adrenal cortex'];
export const json = (x: object) => JSON.stringify(x);
/** One grounded question about a marker's passage. */
export const simple = (marker: string) => json({ questions: [q(`Which is true of ${marker}?`, [`${marker} is in the passage`], WRONG)] });

export const REPLIES: Record<string, string> = {
  valid: json({ questions: [
    q('Where does the mitral valve lie?', ['Between the left atrium and the left ventricle'], ['Between the right atrium and the right ventricle', 'In the aorta', 'In the pulmonary trunk', 'In the vena cava']),
    q('Which statements about the valves are true?', ['The tricuspid valve lies on the right', 'The mitral valve lies on the left'], ['Both lie in the aorta', 'Neither has cusps', 'The mitral valve lies in the lung']),
  ] }),
  fenced: 'Here are the questions:\n```json\n' + json({ questions: [q('Where does the heartbeat begin?', ['In the sinoatrial node'], ['In the apex', 'In the aorta', 'In the septum', 'In the lungs'])] }) + '\n```\nGood luck!',
  // cut off mid-object, as a reply that ran out of max_tokens
  malformed: '{"questions": [{"question": "What does digoxin do?", "options": ["It slows conduction", "It',
  invalid: json({ questions: [
    q('  ', ['Heart rate falls'], WRONG),
    q('Four options?', ['Heart rate falls'], WRONG.slice(0, 3)),
    q('Distinct options?', ['Heart rate falls'], ['heart rate falls!', ...WRONG.slice(0, 3)]),
    { ...q('Bad letter?', ['Heart rate falls'], WRONG), answers: ['F'] },
    { ...q('No answers?', ['Heart rate falls'], WRONG), answers: [] },
    q('What do beta blockers do?', ['They slow the heart rate', 'They lower blood pressure'], WRONG.slice(0, 3)),
    q('What do  beta blockers do', ['They slow the heart rate', 'They lower blood pressure'], WRONG.slice(0, 3)),
    'not an object',
  ] }),
  ungrounded: json({ questions: [
    q('What does sildenafil cause?', ['Sildenafil causes priapism'], WRONG),
    q('How do nitrates act?', ['Nitrates dilate veins'], WRONG),
  ] }),
  case: json({ case: 'A 58-year-old man has had crushing chest pain for two hours.', questions: [
    q('What is the most likely diagnosis?', ['Myocardial infarction'], ['Pneumothorax', 'Gastritis', 'Pericarditis', 'Costochondritis']),
    q('Which test rises within hours?', ['Troponin'], ['Amylase', 'Lipase', 'Creatinine', 'Bilirubin']),
  ] }),
};

/** The script of the scripted server: each marker's behaviour, by attempt. */
export function script(c: Call): Action {
  switch (c.marker) {
    case 'r429': return c.attempt === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { content: simple('glomerulus') };
    case 'r500': return c.attempt <= 2 ? { status: 500 } : { content: simple('collecting duct') };
    case 'slow': return c.attempt === 1 ? { delayMs: 3000, then: { content: simple('bicarbonate') } } : { content: simple('bicarbonate') };
    case 'drop': return c.attempt === 1 ? { drop: true } : { content: simple('aldosterone') };
    case 'echo': return { content: `I cannot help with that. You sent: ${c.authorization}` };
    default: return { content: REPLIES[c.marker] ?? simple(c.marker) };
  }
}

export function writeBook(dir: string): string {
  const path = join(dir, 'book.md');
  writeFileSync(path, BOOK);
  return path;
}

/** Every file under a directory, as text. */
export function filesOf(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).filter((f) => statSync(join(dir, f)).isFile()).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
}

