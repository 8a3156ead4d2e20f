// Every error the library throws on purpose, in one place (issue 7): each names the bad input — the op
// and both shapes, the tensor, the file and line, the bytes asked and held — so a caller can both
// `instanceof`-dispatch on it and show the message as is. All extend MufasaError. No imports: the
// browser entry, the loaders and the engine all use this file.

/** Base class of every error thrown on purpose by mufasa-gpu. */
export class MufasaError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MufasaError';
  }
}

/** Misuse of a tensor or an op (bad argument, wrong state). */
export class TensorError extends MufasaError {
  constructor(message: string) {
    super(message);
    this.name = 'TensorError';
  }
}

/** Shapes that do not fit an op: the message names the op and the shapes involved. */
export class ShapeError extends TensorError {
  constructor(readonly op: string, detail: string) {
    super(`${op}: ${detail}`);
    this.name = 'ShapeError';
  }
}

/** A tensor of the wrong element type for an op. */
export class DTypeError extends TensorError {
  constructor(readonly op: string, readonly expected: string, readonly got: string, what: string) {
    super(`${op}: expected a ${expected} tensor, got ${what}`);
    this.name = 'DTypeError';
  }
}

/** A tensor used after `dispose()` (directly, or freed by the `tidy` that created it). */
export class DisposedTensorError extends TensorError {
  constructor(readonly op: string, what: string) {
    super(`${op}: ${what} was disposed (freed by dispose() or by the tidy() that created it; keep() it to use it later)`);
    this.name = 'DisposedTensorError';
  }
}

/** Tensors of one op (or an optimizer) that live on different engines/devices. */
export class DeviceMismatchError extends TensorError {
  constructor(readonly op: string, detail: string) {
    super(`${op}: ${detail}`);
    this.name = 'DeviceMismatchError';
  }
}

/** The buffer pool could not get memory, after freeing its cache and retrying once. */
export class OutOfMemoryError extends MufasaError {
  constructor(
    readonly requestedBytes: number,
    readonly heldBytes: number,
    readonly detail: string,
  ) {
    super(`GPU out of memory: asked for ${requestedBytes} bytes while the pool holds ${heldBytes} bytes (${detail})`);
    this.name = 'OutOfMemoryError';
  }
}

/**
 * The GPUDevice was lost (`device.lost`: destroyed, driver reset, GPU removed). The engine is unusable
 * from then on; create a new one (`initEngine()` makes a fresh device) and resume from a checkpoint.
 */
export class DeviceLostError extends MufasaError {
  constructor(readonly reason: string, readonly deviceMessage: string, readonly op = '') {
    super(`${op ? `${op}: ` : ''}the GPU device was lost (${reason}${deviceMessage ? `: ${deviceMessage}` : ''}); create a new engine and resume from the last checkpoint`);
    this.name = 'DeviceLostError';
  }
}

/**
 * The device reported errors asynchronously (a validation error, out of memory): a command buffer with
 * such an error does not run at all, so what was read back since came from work that never ran. Thrown
 * by the next readback or sync; `messages` holds every error reported since the last one thrown.
 */
export class DeviceError extends MufasaError {
  constructor(readonly messages: string[], readonly op: string) {
    super(
      `${op}: the GPU device reported ${messages.length === 1 ? 'an error' : `${messages.length} errors`}, so work submitted ` +
        `with ${messages.length === 1 ? 'it' : 'them'} did not run and results read since are not valid: ${messages[0].split('\n')[0]}`,
    );
    this.name = 'DeviceError';
  }
}

/** Where a non-finite value was found during training. */
export interface NonFiniteWhere {
  /** What held the value: e.g. 'loss L_MFL', 'parameter sal.gate.w'. */
  quantity: string;
  value: number;
  stage?: string;
  epoch?: number;
  /** Batch index within the epoch. */
  batch?: number;
  /** Optimizer steps taken so far in this stage. */
  step?: number;
  /** What the caller can do or what was kept (e.g. the intact checkpoint). */
  hint?: string;
}

/** A NaN or ±Inf where a finite number is required (training loss, weights about to be saved). */
export class NonFiniteError extends MufasaError {
  readonly where: NonFiniteWhere;
  constructor(where: NonFiniteWhere) {
    const at = [
      where.stage !== undefined ? `stage ${where.stage}` : '',
      where.epoch !== undefined ? `epoch ${where.epoch}` : '',
      where.batch !== undefined ? `batch ${where.batch}` : '',
      where.step !== undefined ? `step ${where.step}` : '',
    ].filter(Boolean).join(', ');
    super(`non-finite value: ${where.quantity} is ${where.value}${at ? ` (${at})` : ''}${where.hint ? `; ${where.hint}` : ''}`);
    this.name = 'NonFiniteError';
    this.where = where;
  }
}

/** An input file (or in-memory data set) error, naming the file and the (1-based) line, and the column when one applies. */
export class DataFormatError extends MufasaError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
    readonly column?: string,
  ) {
    super(`${file}:${line}${column !== undefined ? ` (column '${column}')` : ''}: ${detail}`);
    this.name = 'DataFormatError';
  }
}

/** A checkpoint or safetensors file that is missing, incomplete or malformed. */
export class CheckpointError extends MufasaError {
  constructor(readonly file: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = 'CheckpointError';
  }
}

/** A WGSL kernel that cannot be found, reflected or called as asked. */
export class KernelError extends MufasaError {
  constructor(message: string) {
    super(message);
    this.name = 'KernelError';
  }
}
