// The MLP activations of Hugging Face's ACT2FN that the kernels compute (config.json
// `activation_function`). Below kernels and model: the kernels take it as a plain enum, the model's
// config names it.

/** An MLP activation of HF's ACT2FN that the model computes (config.json `activation_function`). */
export type Activation = 'gelu_new' | 'gelu' | 'gelu_pytorch_tanh' | 'relu' | 'silu';
/** Every activation the kernels compute. */
export const ACTIVATIONS: readonly Activation[] = ['gelu_new', 'gelu', 'gelu_pytorch_tanh', 'relu', 'silu'];
