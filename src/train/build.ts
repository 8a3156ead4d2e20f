// The model a config names, on a data set: built, its parameters by checkpoint name, weights loaded
// back, and the item modalities MUFASA's item tower reads, uploaded.

import type { Dataset } from '../data/dataset.ts';
import { engine } from '../gpu/engine.ts';
import { tensor } from '../tensor/ops/creation.ts';
import { keep } from '../tensor/scope.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { seededRandom } from '../nn/init.ts';
import type { NamedArray } from './checkpoint.ts';
import { Mufasa } from '../model/mufasa.ts';
import { SASRec } from '../model/sasrec.ts';
import type { SequenceModel } from '../model/sequence.ts';
import type { ModalityInput } from '../model/mfl.ts';
import type { TrainConfig } from './config.ts';

/** The model for data set `ds` under `cfg` (the item modalities fix MFL's input sizes). */
export function buildModel(ds: Dataset, cfg: TrainConfig): SequenceModel {
  if ((cfg.arch ?? 'mufasa') === 'sasrec') return new SASRec(cfg.sasrec, ds.numItems, cfg.maxLen, seededRandom(cfg.seed + 1));
  if (cfg.arch !== 'mufasa') throw new Error(`config: unknown arch '${cfg.arch}' (mufasa, sasrec)`);
  const inputs = contentModalities(ds, cfg.excludeModalities);
  const title = ds.items.modalities.find((m) => m.name === 'title');
  return new Mufasa(cfg.model, ds.numItems, inputs.map((m) => ({ name: m.name, dim: m.dim })), title?.dim ?? 0, seededRandom(cfg.seed + 1));
}

/** Parameters by name, as saved in checkpoints. */
export function namedParameters(model: SequenceModel): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const p of model.parameters()) {
    if (!p.name || out.has(p.name)) throw new Error(`internal: parameter ${p} has no unique name`);
    out.set(p.name, p);
  }
  return out;
}

/** Overwrite the model's parameters with checkpoint weights (every name and shape must match). */
export function loadWeights(model: SequenceModel, weights: Map<string, NamedArray>, file: string): void {
  const e = engine();
  for (const [name, p] of namedParameters(model)) {
    const w = weights.get(name);
    if (!w) throw new Error(`${file}: no tensor '${name}' (checkpoint from another model or config)`);
    if (w.shape.join() !== p.shape.join()) throw new Error(`${file}: '${name}' has shape [${w.shape}], the model needs [${p.shape}]`);
    const b = p.binding('loadWeights');
    e.stream.write(b.buffer, b.offset!, w.data);
  }
}

/** The item modalities a MUFASA model consumes: the data set's, less those `exclude` names. */
export function contentModalities(ds: Dataset, exclude: string[]) {
  return ds.items.modalities.filter((m) => !exclude.includes(m.name));
}

/** Upload the item modalities MFL consumes (present masks as [I, 1] floats). */
export function uploadModalities(ds: Dataset, exclude: string[]): ModalityInput[] {
  return contentModalities(ds, exclude).map((m) => ({
    name: m.name,
    values: keep(tensor(m.values, [ds.numItems, m.dim], { name: `modality.${m.name}` })),
    present: keep(tensor(Float32Array.from(m.present), [ds.numItems, 1])),
  }));
}
