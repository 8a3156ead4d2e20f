// A Dataset from in-memory arrays (issue 7: "loading data from arrays, not only files"): the same
// checks as the file loaders — every bad value is a DataFormatError naming the array and the index —
// and the same conventions (dense ids, ties in time broken by ascending item id, masked modalities).

import { DataFormatError, compareIds, groupSequences, type Dataset, type Modality } from './dataset.ts';

export interface ArrayInteractions {
  /** Original user id per interaction (any string or number). */
  users: ArrayLike<string | number>;
  /** Original item id per interaction; must be one of `items.ids`. */
  items: ArrayLike<string | number>;
  /** Time per interaction (any finite number; only the order matters). Default: the array order. */
  timestamps?: ArrayLike<number>;
}

export interface ArrayModality {
  name: string;
  dim: number;
  /** [numItems, dim] row-major, finite. */
  values: ArrayLike<number>;
  /** [numItems], 1 = present, 0 = missing (the row is masked). Default: all present. */
  present?: ArrayLike<number>;
}

export interface ArrayItems {
  /** Original item ids, unique; dense item id = index here. */
  ids: ArrayLike<string | number>;
  titles?: string[];
  /** Frozen per-item vectors (MUFASA's modalities). Name one 'title' to make it the L_title anchor. */
  modalities?: ArrayModality[];
}

const where = (name: string) => `datasetFromArrays(${name})`;

/** Builds a Dataset; a whole one or a DataFormatError naming the array and the (0-based) index. */
export function datasetFromArrays(data: { interactions: ArrayInteractions; items: ArrayItems; name?: string }): Dataset {
  const { interactions: it, items } = data;
  const n = items.ids.length;
  if (n === 0) throw new DataFormatError(where('items.ids'), 0, 'no items');
  const itemIds: string[] = [];
  const index = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const id = String(items.ids[i]);
    if (id === '') throw new DataFormatError(where('items.ids'), i, 'empty item id');
    if (index.has(id)) throw new DataFormatError(where('items.ids'), i, `duplicate item id '${id}' (first at index ${index.get(id)})`);
    index.set(id, i);
    itemIds.push(id);
  }
  const m = it.users.length;
  if (m === 0) throw new DataFormatError(where('interactions'), 0, 'no interactions');
  if (it.items.length !== m) throw new DataFormatError(where('interactions.items'), 0, `${it.items.length} entries, but interactions.users has ${m}`);
  if (it.timestamps && it.timestamps.length !== m) throw new DataFormatError(where('interactions.timestamps'), 0, `${it.timestamps.length} entries, but interactions.users has ${m}`);
  // Dense ids as the file loaders (interactions.ts InteractionBuilder, not imported: it reads files via
  // node:fs and this file is part of the browser entry): users in ascending original id.
  const userKeys = new Map<string, number>();
  const ru: number[] = [];
  const ri = new Int32Array(m);
  const rt = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    const t = it.timestamps ? it.timestamps[k] : k;
    if (typeof t !== 'number' || !Number.isFinite(t)) throw new DataFormatError(where('interactions.timestamps'), k, `${t} is not a finite number`);
    const u = String(it.users[k]);
    if (u === '') throw new DataFormatError(where('interactions.users'), k, 'empty user id');
    const item = index.get(String(it.items[k]));
    if (item === undefined) throw new DataFormatError(where('interactions.items'), k, `unknown item id '${it.items[k]}' (not in items.ids)`);
    let us = userKeys.get(u);
    if (us === undefined) userKeys.set(u, (us = userKeys.size));
    ru.push(us);
    ri[k] = item;
    rt[k] = t;
  }
  const userIds = [...userKeys.keys()].sort(compareIds);
  const pos = new Map(userIds.map((k, j) => [k, j]));
  const remap = [...userKeys.keys()].map((k) => pos.get(k)!);
  const raw = { user: Int32Array.from(ru, (x) => remap[x]), item: ri, time: rt, count: m };
  const { sequences, timestamps } = groupSequences(raw, userIds.length, itemIds);

  const titles = items.titles ?? itemIds;
  if (titles.length !== n) throw new DataFormatError(where('items.titles'), 0, `${titles.length} titles for ${n} items`);
  const seen = new Set<string>();
  const modalities: Modality[] = (items.modalities ?? []).map((mo, j) => {
    const w = where(`items.modalities[${j}] '${mo.name}'`);
    if (!mo.name || seen.has(mo.name)) throw new DataFormatError(w, 0, 'missing or duplicate modality name');
    seen.add(mo.name);
    if (!Number.isInteger(mo.dim) || mo.dim < 1) throw new DataFormatError(w, 0, `dim ${mo.dim} is not a positive integer`);
    if (mo.values.length !== n * mo.dim) throw new DataFormatError(w, 0, `${mo.values.length} values; [numItems ${n}, dim ${mo.dim}] needs ${n * mo.dim}`);
    if (mo.present && mo.present.length !== n) throw new DataFormatError(w, 0, `present has ${mo.present.length} entries for ${n} items`);
    const values = Float32Array.from(mo.values);
    const present = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const p = mo.present ? mo.present[i] : 1;
      if (p !== 0 && p !== 1) throw new DataFormatError(w, i, `present[${i}] = ${p}; expected 0 or 1`);
      present[i] = p;
      for (let k = 0; k < mo.dim; k++) {
        const v = values[i * mo.dim + k];
        // A missing row is zeroed (never data); a present one must be finite: a NaN would reach the loss.
        if (!p) values[i * mo.dim + k] = 0;
        else if (!Number.isFinite(v)) throw new DataFormatError(w, i, `item ${i} ('${itemIds[i]}'), component ${k} is ${mo.values[i * mo.dim + k]}; values must be finite (mark a missing row with present = 0)`);
      }
    }
    return { name: mo.name, dim: mo.dim, values, present };
  });
  return { name: data.name ?? 'arrays', numUsers: userIds.length, numItems: n, userIds, itemIds, sequences, timestamps, items: { titles, modalities } };
}
