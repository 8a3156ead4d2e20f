// A dense layer: y = act(x·W + b) with the bias and activation fused into the matmul epilogue.

import type { Tensor } from '../tensor/tensor.ts';
import { linear } from '../tensor/ops/matmul.ts';
import type { Activation } from '../tensor/ops/matmul.ts';
import { xavierUniform, zerosParam } from './init.ts';

export class Linear {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    rand: () => number,
    readonly opts: { bias?: boolean; activation?: Activation; name?: string } = {},
  ) {
    const name = opts.name ?? 'linear';
    this.weight = xavierUniform(inFeatures, outFeatures, rand, `${name}.weight`);
    this.bias = opts.bias === false ? null : zerosParam([outFeatures], `${name}.bias`);
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias ?? undefined, this.opts.activation ?? 'none');
  }

  parameters(): Tensor[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }

  dispose(): void {
    this.weight.dispose();
    this.bias?.dispose();
  }
}
