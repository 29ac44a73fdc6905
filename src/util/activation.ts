// The MLP activations of Hugging Face's ACT2FN that the kernels compute (config.json
// `activation_function`). Below kernels and model: the kernels take it as a plain enum, the model's
// config names it.

export type Activation = 'gelu_new' | 'gelu' | 'gelu_pytorch_tanh' | 'relu' | 'silu';
export const ACTIVATIONS: readonly Activation[] = ['gelu_new', 'gelu', 'gelu_pytorch_tanh', 'relu', 'silu'];
