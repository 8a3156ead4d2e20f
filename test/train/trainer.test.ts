// End to end on the synthetic data set (planted topic runs): the whole pipeline — BPR-MF, MFL, SAL,
// early stopping, GPU evaluation — lifts test HR@10 well above a popularity baseline computed here.
import { it, expect } from 'vitest';
import { makeSynthetic } from '../../src/data/synthetic.ts';
import { popularityHR10 } from './popularity.ts';
import { train } from '../../src/train/trainer.ts';
import { defaultTrainConfig } from '../../src/train/config.ts';


it('MUFASA on synthetic data beats popularity by a wide margin', async () => {
  const ds = makeSynthetic({ seed: 3, users: 150, items: 200 });
  const pop = popularityHR10(ds);
  const res = await train(ds, {
    ...defaultTrainConfig,
    seed: 3,
    epochs: 4,
    mflEpochs: 2,
    cfEpochs: 5,
    model: { ...defaultTrainConfig.model, dim: 32 },
  });
  const hr = res.test['HR@10'];
  console.log(`synthetic: popularity HR@10 ${pop.toFixed(3)}, MUFASA HR@10 ${hr.toFixed(3)} (best epoch ${res.bestEpoch}, ${res.wallSeconds.toFixed(1)} s)`);
  expect(res.log.filter((l) => l.stage === 'sal').every((l) => Number.isFinite(l.loss))).toBe(true);
  expect(hr).toBeGreaterThan(2 * pop);
  expect(hr).toBeGreaterThan(0.1);
});
