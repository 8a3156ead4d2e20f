// One way to get a GPUDevice, in Node (Dawn's `webgpu` package) and in the browser (navigator.gpu).
//
// Node adapter order (DEVELOPERS.md, measured on the 2-core dev machines with the same 8×8-per-thread
// matmul tile): a hardware adapter if there is one; else Dawn's OpenGL ES backend on Mesa llvmpipe
// (≈5.3–5.6 GFLOP/s); else SwiftShader Vulkan from Debian's chromium (≈1.0–1.4 GFLOP/s, but core
// WebGPU: timestamp queries and subgroups). `MUFASA_ADAPTER=gpu|gl|swiftshader` (or the `adapter`
// option) forces one.

export type AdapterKind = 'gpu' | 'gl' | 'swiftshader' | 'browser' | 'external';

export interface DeviceOptions {
  /** Force an adapter; default: env MUFASA_ADAPTER, else 'auto'. */
  adapter?: AdapterKind | 'auto';
  /** Use the caller's own device instead of creating one. */
  device?: GPUDevice;
  /** Do not log the adapter line. */
  quiet?: boolean;
  /**
   * A device of its own instead of the process-wide shared one (per adapter kind), e.g. a second engine
   * that may be destroyed without touching the first.
   */
  exclusive?: boolean;
}

export interface Gpu {
  device: GPUDevice;
  kind: AdapterKind;
  /** Human-readable adapter description, printed by every benchmark. */
  description: string;
  limits: GPUSupportedLimits;
  /** Compatibility feature level (the GL backend): kernels must stay within its rules anyway. */
  compat: boolean;
  hasTimestamps: boolean;
  /**
   * A CPU implementation (llvmpipe, SwiftShader, …) by the adapter's info, whatever `kind` says: in a
   * browser, Chromium's SwiftShader is kind 'browser', and kernels tuned for CPU adapters must still
   * pick their CPU variants there (measured in headless Chromium: the shared-memory matmul made a
   * 20-step demo run spend 87% of its GPU time in matmul).
   */
  software: boolean;
  /** Dawn's GPU object: if it is garbage-collected while the device lives, Dawn crashes. */
  keepAlive: unknown;
}

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const INSTALL_HINT =
  'no WebGPU adapter could be created. On Debian/Ubuntu install the CPU adapters with\n' +
  '  apt-get update && apt-get install -y libegl-mesa0 libgl1-mesa-dri libgbm1 chromium libvulkan1\n' +
  '(Mesa llvmpipe behind EGL for the OpenGL ES backend; SwiftShader Vulkan ships inside chromium), ' +
  'or run `bash scripts/ensure-env.sh`.';

let shared: Promise<Gpu> | null = null;
let sharedKey = '';

/** The process-wide device (created once per adapter choice). */
export function getDevice(opts: DeviceOptions = {}): Promise<Gpu> {
  if (opts.device) return Promise.resolve(wrapExternal(opts.device, opts));
  const want = opts.adapter ?? envAdapter() ?? 'auto';
  if (opts.exclusive) return createGpu(want, opts.quiet ?? false);
  if (shared && sharedKey === want) return shared;
  sharedKey = want;
  const p = createGpu(want, opts.quiet ?? false);
  shared = p;
  p.catch(() => { if (shared === p) shared = null; });
  // A lost device is never handed out again: the next getDevice() makes a new one.
  p.then((g) => g.device.lost.then(() => { if (shared === p) shared = null; }), () => {});
  return p;
}

function envAdapter(): AdapterKind | 'auto' | undefined {
  const v = typeof process !== 'undefined' ? process.env?.MUFASA_ADAPTER : undefined;
  if (!v) return undefined;
  if (v === 'auto' || v === 'gpu' || v === 'gl' || v === 'swiftshader') return v;
  throw new Error(`MUFASA_ADAPTER=${v}: expected one of gpu, gl, swiftshader, auto`);
}

function isBrowser(): boolean {
  return typeof navigator !== 'undefined' && !!(navigator as Navigator).gpu && typeof process === 'undefined';
}

async function createGpu(want: AdapterKind | 'auto', quiet: boolean): Promise<Gpu> {
  let gpu: Gpu;
  if (isBrowser()) {
    const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('navigator.gpu.requestAdapter() returned null: this browser has WebGPU but no adapter');
    gpu = await openDevice(adapter, 'browser', navigator.gpu, false);
  } else {
    gpu = await createNodeGpu(want);
  }
  if (!quiet) console.log(`[mufasa-gpu] adapter: ${gpu.kind} — ${gpu.description}`);
  return gpu;
}

type Attempt = { kind: AdapterKind; run: () => Promise<Gpu | null> };

/** Every Dawn instance we create, including probes that found no adapter: Dawn must not see them collected. */
const dawnInstances: unknown[] = [];

async function createNodeGpu(want: AdapterKind | 'auto'): Promise<Gpu> {
  const dawn = (await import('webgpu')) as unknown as {
    create: (flags: string[]) => GPU;
    globals: Record<string, unknown>;
  };
  const globals = dawn.globals;
  const create = (flags: string[]) => {
    const g = dawn.create(flags);
    dawnInstances.push(g);
    return g;
  };
  // GPUBufferUsage & co. are globals in a browser; Dawn's package hands them to us.
  for (const [k, v] of Object.entries(globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;

  const attempts: Attempt[] = [
    {
      kind: 'gpu',
      run: async () => {
        // The system's own Vulkan ICDs only: with VK_ICD_FILENAMES pointing at SwiftShader we would
        // mistake it for hardware.
        const saved = process.env.VK_ICD_FILENAMES;
        delete process.env.VK_ICD_FILENAMES;
        try {
          const g = create([]);
          const a = await g.requestAdapter({ powerPreference: 'high-performance' });
          if (!a || isSoftware(a.info)) return null;
          return openDevice(a, 'gpu', g, false);
        } finally {
          if (saved !== undefined) process.env.VK_ICD_FILENAMES = saved;
        }
      },
    },
    {
      kind: 'gl',
      run: async () => {
        process.env.EGL_PLATFORM ??= 'surfaceless';
        const g = create(['backend=opengles']);
        const a = await g.requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions);
        return a ? openDevice(a, 'gl', g, true) : null;
      },
    },
    {
      kind: 'swiftshader',
      run: async () => {
        const saved = process.env.VK_ICD_FILENAMES;
        process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
        try {
          const g = create(['backend=vulkan']);
          const a = await g.requestAdapter();
          return a ? openDevice(a, 'swiftshader', g, false) : null;
        } finally {
          if (saved === undefined) delete process.env.VK_ICD_FILENAMES;
          else process.env.VK_ICD_FILENAMES = saved;
        }
      },
    },
  ];
  const chosen = want === 'auto' ? attempts : attempts.filter((a) => a.kind === want);
  const errors: string[] = [];
  for (const a of chosen) {
    try {
      const gpu = await a.run();
      if (gpu) return gpu;
      errors.push(`${a.kind}: no adapter`);
    } catch (e) {
      errors.push(`${a.kind}: ${(e as Error).message}`);
    }
  }
  throw new Error(`[mufasa-gpu] ${INSTALL_HINT}\nTried: ${errors.join('; ')}`);
}

function isSoftware(info: GPUAdapterInfo): boolean {
  const s = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return /swiftshader|llvmpipe|lavapipe|softpipe|software|microsoft basic render/.test(s);
}

/** Request every compute limit at the adapter's maximum: tile sizes are picked from them. */
async function openDevice(adapter: GPUAdapter, kind: AdapterKind, keepAlive: unknown, compat: boolean): Promise<Gpu> {
  const limitNames = [
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupSizeX',
    'maxComputeWorkgroupSizeY',
    'maxComputeWorkgroupSizeZ',
    'maxComputeWorkgroupsPerDimension',
    'maxStorageBuffersPerShaderStage',
    'maxBindGroups',
    'maxBindingsPerBindGroup',
  ] as const;
  const requiredLimits: Record<string, number> = {};
  for (const n of limitNames) {
    const v = (adapter.limits as unknown as Record<string, number>)[n];
    if (typeof v === 'number') requiredLimits[n] = v;
  }
  const requiredFeatures: GPUFeatureName[] = [];
  if (adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const info = adapter.info;
  const description = [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ').trim();
  return {
    device,
    kind,
    description: description || kind,
    limits: device.limits,
    compat,
    hasTimestamps: device.features.has('timestamp-query'),
    software: kind === 'gl' || kind === 'swiftshader' || isSoftware(info),
    keepAlive,
  };
}

function wrapExternal(device: GPUDevice, opts: DeviceOptions): Gpu {
  const gpu: Gpu = {
    device,
    kind: 'external',
    description: 'caller-provided GPUDevice',
    limits: device.limits,
    // We cannot tell the caller's feature level; staying within compatibility rules is the kernels' job.
    compat: false,
    hasTimestamps: device.features.has('timestamp-query'),
    software: false,
    keepAlive: null,
  };
  if (!opts.quiet) console.log(`[mufasa-gpu] adapter: external — ${gpu.description}`);
  return gpu;
}
