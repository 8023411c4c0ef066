import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blobByteSource,
  memoryByteSource,
  memoryModelFiles,
  type ByteSource,
  type ModelFiles,
} from '../../src/formats/byte-source';
import { bf16ToF32, f32ToBf16, f32ToF16, roundToF16 } from '../../src/formats/dtype';
import { fileByteSource, nodeModelFiles } from '../../src/formats/node-files';
import {
  openSafetensors,
  openSafetensorsModel,
  readTensorBytes,
  readTensorF32,
  type TensorInfo,
} from '../../src/formats/safetensors';
import { randomArray } from '../helpers/random';
import { buildSafetensors, buildShardedSafetensors, encodeSafetensors } from '../helpers/safetensors-writer';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');
const MODEL_FIXTURES = [
  'hf-glm-tiny',
  'hf-glm-tiny-mha',
  'hf-glm4-tiny',
  'thudm-chatglm1-tiny',
  'thudm-chatglm2-tiny',
  'thudm-chatglm3-tiny',
  'thudm-glm4chat-tiny',
];

/** Awaits `action`, which must fail with an error of that `name` whose message holds every fragment. */
async function expectFailure(action: Promise<unknown> | (() => unknown), name: string, ...fragments: string[]) {
  let caught: unknown;
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${name}`).toBeInstanceOf(Error);
  const err = caught as Error;
  expect(err.name, err.message).toBe(name);
  for (const fragment of fragments) expect(err.message).toContain(fragment);
  return err;
}

async function fixtureBytes(folder: string): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await readFile(path.join(FIXTURES, folder, 'model.safetensors')));
}

/** Independent decoding of a whole safetensors file (JSON.parse + DataView), to check the reader against. */
function decodeWholeFile(bytes: Uint8Array): Map<string, { dtype: string; shape: number[]; values: number[] }> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const out = new Map<string, { dtype: string; shape: number[]; values: number[] }>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const values: number[] = [];
    for (let at = entry.data_offsets[0]; at < entry.data_offsets[1]; at += 4) {
      values.push(view.getFloat32(8 + headerLength + at, true));
    }
    out.set(name, { dtype: entry.dtype, shape: entry.shape, values });
  }
  return out;
}

interface ReadRecord {
  offset: number;
  length: number;
}

function recordingSource(inner: ByteSource, reads: ReadRecord[]): ByteSource {
  return {
    name: inner.name,
    size: inner.size,
    read(offset, length) {
      reads.push({ offset, length });
      return inner.read(offset, length);
    },
    close: inner.close?.bind(inner),
  };
}

let tempRoot: string;
beforeAll(async () => {
  tempRoot = await mkdtemp(path.join(tmpdir(), 'glm-safetensors-'));
});
afterAll(async () => {
  await rm(tempRoot, { recursive: true, force: true });
});

async function writeFolder(name: string, files: Record<string, Uint8Array | string>): Promise<string> {
  const dir = path.join(tempRoot, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) await writeFile(path.join(dir, file), content);
  return dir;
}

describe('real fixtures through nodeModelFiles', () => {
  for (const folder of MODEL_FIXTURES) {
    it(`${folder}: every tensor name and shape matches expected.json and values match an independent decode`, async () => {
      const expected = JSON.parse(await readFile(path.join(FIXTURES, folder, 'expected.json'), 'utf8')) as {
        param_names: Record<string, number[]>;
      };
      const index = await openSafetensorsModel(nodeModelFiles(path.join(FIXTURES, folder)));
      try {
        expect([...index.tensors.keys()].sort()).toEqual(Object.keys(expected.param_names).sort());
        for (const [name, shape] of Object.entries(expected.param_names)) {
          expect(index.get(name).shape, name).toEqual(shape);
          expect(index.get(name).dtype, name).toBe('F32');
        }
        const independent = decodeWholeFile(await fixtureBytes(folder));
        for (const [name, info] of index.tensors) {
          const values = await readTensorF32(info);
          expect(values.length).toBe(info.shape.reduce((a, b) => a * b, 1));
          expect(Array.from(values), name).toEqual(independent.get(name)!.values);
        }
      } finally {
        await index.close();
      }
    });
  }
});

describe('writer round trips', () => {
  const edgeValues = Float32Array.of(0, -0, 1, -1, 65504, 1e-7, -2.5e-6, Infinity, -Infinity, 3.14159, 1e30, -1e-30);

  it('F32 is bit exact, including the edge values', async () => {
    const values = new Float32Array([...randomArray(64, 1, 10), ...edgeValues]);
    const file = await openSafetensors(
      memoryByteSource(buildSafetensors([{ name: 'w', dtype: 'F32', shape: [4, 19], data: values }])),
    );
    const got = await readTensorF32(file.tensors.get('w')!);
    expect(Array.from(got)).toEqual(Array.from(values));
    expect(Object.is(got[65], -0)).toBe(true);
  });

  it('F16 from Float32Array values rounds like f32ToF16, and from raw bits is exact', async () => {
    const values = new Float32Array([...randomArray(50, 2, 100), ...edgeValues]);
    const bits = Uint16Array.of(0x0000, 0x8000, 0x3c00, 0x7bff, 0x0001, 0x03ff, 0x7c00, 0xfc00, 0xc000);
    const file = await openSafetensors(
      memoryByteSource(
        buildSafetensors([
          { name: 'values', dtype: 'F16', shape: [values.length], data: values },
          { name: 'bits', dtype: 'F16', shape: [3, 3], data: bits },
        ]),
      ),
    );
    expect(Array.from(await readTensorF32(file.tensors.get('values')!))).toEqual(
      Array.from(values, (v) => roundToF16(v)),
    );
    expect(Array.from(await readTensorF32(file.tensors.get('bits')!))).toEqual([
      0, -0, 1, 65504, 2 ** -24, 1023 * 2 ** -24, Infinity, -Infinity, -2,
    ]);
    expect(f32ToF16(1)).toBe(0x3c00);
  });

  it('BF16 round trips through f32ToBf16 / bf16ToF32, NaN stays NaN', async () => {
    const values = new Float32Array([...randomArray(40, 3, 1000), ...edgeValues, NaN]);
    const file = await openSafetensors(
      memoryByteSource(buildSafetensors([{ name: 'b', dtype: 'BF16', shape: [values.length], data: values }])),
    );
    const got = await readTensorF32(file.tensors.get('b')!);
    const want = Array.from(values, (v) => bf16ToF32(f32ToBf16(v)));
    expect(Array.from(got)).toEqual(want);
    expect(Number.isNaN(got[got.length - 1])).toBe(true);
  });

  it('unaligned F32/F16 data (after an odd-sized U8 tensor, in an unaligned source buffer) decodes correctly', async () => {
    const f32 = randomArray(7, 4);
    const f16 = Float32Array.of(0.5, -1.5, 2);
    const file = buildSafetensors([
      { name: 'odd', dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 3) },
      { name: 'f32', dtype: 'F32', shape: [7], data: f32 },
      { name: 'f16', dtype: 'F16', shape: [3], data: f16 },
    ]);
    // Put the file at byte 1 of a bigger buffer so even the source's own view is misaligned.
    const shifted = new Uint8Array(file.byteLength + 1);
    shifted.set(file, 1);
    const opened = await openSafetensors(memoryByteSource(shifted.subarray(1)));
    expect(opened.tensors.get('f32')!.byteOffset % 4).not.toBe(0);
    expect(Array.from(await readTensorF32(opened.tensors.get('f32')!))).toEqual(Array.from(f32));
    expect(Array.from(await readTensorF32(opened.tensors.get('f16')!))).toEqual([0.5, -1.5, 2]);
  });

  it('integer dtypes come back as raw bytes; readTensorF32 refuses them with UnsupportedDTypeError', async () => {
    const int8 = Int8Array.of(-8, -1, 0, 7);
    const file = await openSafetensors(
      memoryByteSource(
        buildSafetensors(
          [
            { name: 'q', dtype: 'I8', shape: [2, 2], data: new Uint8Array(int8.buffer) },
            { name: 'u', dtype: 'U8', shape: [3], data: Uint8Array.of(0, 128, 255) },
            { name: 'i32', dtype: 'I32', shape: [2], data: new Uint8Array(Int32Array.of(-5, 1 << 30).buffer) },
            { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
            { name: 'scalar', dtype: 'F32', shape: [], data: Float32Array.of(42) },
          ],
          { format: 'pt', quantization: 'int4' },
        ),
      ),
    );
    expect(file.metadata).toEqual({ format: 'pt', quantization: 'int4' });
    expect(Array.from(new Int8Array((await readTensorBytes(file.tensors.get('q')!)).buffer))).toEqual([-8, -1, 0, 7]);
    expect(Array.from(await readTensorBytes(file.tensors.get('u')!))).toEqual([0, 128, 255]);
    const i32 = await readTensorBytes(file.tensors.get('i32')!);
    expect(new DataView(i32.buffer).getInt32(0, true)).toBe(-5);
    expect(Array.from(await readTensorF32(file.tensors.get('empty')!))).toEqual([]);
    expect(Array.from(await readTensorF32(file.tensors.get('scalar')!))).toEqual([42]);
    await expectFailure(readTensorF32(file.tensors.get('q')!), 'UnsupportedDTypeError', '"q"', 'I8', 'readTensorBytes');
    await expectFailure(readTensorF32(file.tensors.get('i32')!), 'UnsupportedDTypeError', 'I32');
  });

  it('parses every listed dtype', async () => {
    const dtypes = ['F32', 'F16', 'BF16', 'I8', 'U8', 'I32', 'I64', 'F64', 'I16', 'U16', 'BOOL'] as const;
    const sizes = [4, 2, 2, 1, 1, 4, 8, 8, 2, 2, 1];
    const file = await openSafetensors(
      memoryByteSource(
        buildSafetensors(
          dtypes.map((dtype, i) => ({ name: dtype, dtype, shape: [3], data: new Uint8Array(3 * sizes[i]!).fill(i) })),
        ),
      ),
    );
    dtypes.forEach((dtype, i) => {
      const info = file.tensors.get(dtype)!;
      expect(info.dtype).toBe(dtype);
      expect(info.byteLength).toBe(3 * sizes[i]!);
    });
    expect(Array.from(await readTensorBytes(file.tensors.get('BOOL')!))).toEqual([10, 10, 10]);
  });
});

describe('sharded checkpoints', () => {
  const tensors = [
    { name: 'embed.weight', dtype: 'F32' as const, shape: [8, 4], data: randomArray(32, 10) },
    { name: 'layers.0.w', dtype: 'BF16' as const, shape: [4, 4], data: randomArray(16, 11) },
    { name: 'layers.0.q', dtype: 'I8' as const, shape: [5], data: Uint8Array.of(1, 2, 3, 4, 5) },
    { name: 'layers.1.w', dtype: 'F16' as const, shape: [2, 3], data: randomArray(6, 12) },
    { name: 'head.weight', dtype: 'F32' as const, shape: [3], data: randomArray(3, 13) },
  ];

  it('reads index.json + 2 shards from a temp dir, opening each shard once', async () => {
    const files = buildShardedSafetensors(tensors, 2, { note: 'synthetic' });
    expect(Object.keys(files).sort()).toEqual([
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
    ]);
    const dir = await writeFolder('sharded', files);
    const inner = nodeModelFiles(dir);
    const opens: string[] = [];
    const counting: ModelFiles = { ...inner, location: inner.location, open: (name) => (opens.push(name), inner.open(name)) };
    const index = await openSafetensorsModel(counting);
    try {
      expect(opens.sort()).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
      expect([...index.tensors.keys()].sort()).toEqual(tensors.map((t) => t.name).sort());
      expect(index.metadata.note).toBe('synthetic');
      expect(index.get('embed.weight').source.name).toContain('model-00001-of-00002.safetensors');
      expect(index.get('head.weight').source.name).toContain('model-00002-of-00002.safetensors');
      expect(Array.from(await readTensorF32(index.get('embed.weight')))).toEqual(Array.from(tensors[0]!.data));
      expect(Array.from(await readTensorF32(index.get('layers.0.w')))).toEqual(
        Array.from(tensors[1]!.data as Float32Array, (v) => bf16ToF32(f32ToBf16(v))),
      );
      expect(Array.from(await readTensorBytes(index.get('layers.0.q')))).toEqual([1, 2, 3, 4, 5]);
      expect(Array.from(await readTensorF32(index.get('layers.1.w')))).toEqual(
        Array.from(tensors[3]!.data as Float32Array, (v) => roundToF16(v)),
      );
    } finally {
      await index.close();
    }
  });

  it('the same checkpoint works from memoryModelFiles', async () => {
    const index = await openSafetensorsModel(memoryModelFiles(buildShardedSafetensors(tensors, 3)));
    expect(index.tensors.size).toBe(5);
    expect(Array.from(await readTensorF32(index.get('head.weight')))).toEqual(Array.from(tensors[4]!.data));
  });

  it('a weight_map entry that its shard lacks is a SafetensorsFormatError naming tensor and shard', async () => {
    const files = buildShardedSafetensors(tensors, 2);
    const index = JSON.parse(files['model.safetensors.index.json'] as string);
    index.weight_map['layers.9.w'] = 'model-00002-of-00002.safetensors';
    files['model.safetensors.index.json'] = JSON.stringify(index);
    await expectFailure(
      openSafetensorsModel(memoryModelFiles(files)),
      'SafetensorsFormatError',
      'layers.9.w',
      'model-00002-of-00002.safetensors',
    );
  });

  it('a weight_map pointing at a shard file that does not exist is a MissingFileError', async () => {
    const files = buildShardedSafetensors(tensors, 2);
    delete files['model-00002-of-00002.safetensors'];
    const dir = await writeFolder('sharded-missing', files);
    await expectFailure(
      openSafetensorsModel(nodeModelFiles(dir)),
      'MissingFileError',
      'model-00002-of-00002.safetensors',
      dir,
    );
  });

  it('a truncated shard fails the whole model with TruncatedFileError and closes every shard it opened', async () => {
    const files = buildShardedSafetensors(tensors, 2);
    const shard = files['model-00002-of-00002.safetensors'] as Uint8Array;
    files['model-00002-of-00002.safetensors'] = shard.slice(0, shard.byteLength - 3);
    const inner = memoryModelFiles(files, 'cut-model');
    const closed: string[] = [];
    const tracking: ModelFiles = {
      ...inner,
      location: inner.location,
      async open(name) {
        const source = await inner.open(name);
        return { ...source, name: source.name, size: source.size, read: source.read, close: async () => void closed.push(name) };
      },
    };
    await expectFailure(
      openSafetensorsModel(tracking),
      'TruncatedFileError',
      'cut-model/model-00002-of-00002.safetensors',
      'head.weight',
    );
    expect(closed.sort()).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  });

  it('a malformed index.json is a SafetensorsFormatError', async () => {
    await expectFailure(
      openSafetensorsModel(memoryModelFiles({ 'model.safetensors.index.json': '{"weight_map": ' }, 'mem-model')),
      'SafetensorsFormatError',
      'model.safetensors.index.json',
      'not valid JSON',
    );
    await expectFailure(
      openSafetensorsModel(memoryModelFiles({ 'model.safetensors.index.json': '{"metadata": {}}' })),
      'SafetensorsFormatError',
      'weight_map',
    );
    await expectFailure(
      openSafetensorsModel(memoryModelFiles({ 'model.safetensors.index.json': '{"weight_map": {"a": 3}}' })),
      'SafetensorsFormatError',
      'weight_map["a"]',
    );
  });

  it('a shard path escaping the model folder is refused', async () => {
    const files = buildShardedSafetensors(tensors, 2);
    files['model.safetensors.index.json'] = JSON.stringify({ weight_map: { 'embed.weight': '../outside.safetensors' } });
    const dir = await writeFolder('sharded-escape', files);
    await expectFailure(openSafetensorsModel(nodeModelFiles(dir)), 'InvalidArgumentError', '../outside.safetensors');
  });
});

describe('model folder errors', () => {
  it('a folder with neither layout is a MissingFileError naming both candidates', async () => {
    const dir = await writeFolder('empty-model', { 'config.json': '{}' });
    await expectFailure(
      openSafetensorsModel(nodeModelFiles(dir)),
      'MissingFileError',
      'model.safetensors"',
      'model.safetensors.index.json',
      dir,
    );
  });

  it('a missing folder is a MissingFileError naming the folder', async () => {
    const dir = path.join(tempRoot, 'no-such-model');
    await expectFailure(openSafetensorsModel(nodeModelFiles(dir)), 'MissingFileError', dir, 'does not exist');
    await expectFailure(nodeModelFiles(dir).readText('config.json'), 'MissingFileError', dir, 'does not exist');
    await expectFailure(nodeModelFiles(dir).open('model.safetensors'), 'MissingFileError', dir, 'does not exist');
  });

  it('nodeModelFiles: exists, readText, open, and MissingFileError naming file and folder', async () => {
    const dir = await writeFolder('files', { 'config.json': '{"a":1}', 'blob.bin': Uint8Array.of(9, 8, 7) });
    const files = nodeModelFiles(dir);
    expect(files.location).toBe(path.resolve(dir));
    expect(await files.exists('config.json')).toBe(true);
    expect(await files.exists('tokenizer.json')).toBe(false);
    expect(await files.readText('config.json')).toBe('{"a":1}');
    const source = await files.open('blob.bin');
    expect(source.size).toBe(3);
    expect(Array.from(await source.read(1, 2))).toEqual([8, 7]);
    await source.close?.();
    await expectFailure(files.readText('tokenizer.json'), 'MissingFileError', '"tokenizer.json"', dir);
    await expectFailure(files.open('model.safetensors'), 'MissingFileError', '"model.safetensors"', dir);
  });

  it('memoryModelFiles: exists, readText, open, and MissingFileError naming file and folder', async () => {
    const files = memoryModelFiles({ 'config.json': '{"b":2}', 'tok.txt': new TextEncoder().encode('héllo') }, 'picked');
    expect(await files.exists('config.json')).toBe(true);
    expect(await files.exists('toString')).toBe(false);
    expect(await files.readText('tok.txt')).toBe('héllo');
    const source = await files.open('config.json');
    expect(source.name).toBe('picked/config.json');
    expect(new TextDecoder().decode(await source.read(0, source.size))).toBe('{"b":2}');
    await expectFailure(files.readText('missing.json'), 'MissingFileError', '"missing.json"', '"picked"');
    await expectFailure(files.open('missing.bin'), 'MissingFileError', '"missing.bin"', '"picked"');
  });

  it('a missing tensor is a TensorNotFoundError listing similar names', async () => {
    const index = await openSafetensorsModel(nodeModelFiles(path.join(FIXTURES, 'hf-glm-tiny')));
    try {
      expect(index.has('model.norm.weight')).toBe(true);
      const err = await expectFailure(
        () => index.get('model.layers.0.self_attn.q_proj.wieght'),
        'TensorNotFoundError',
        'model.layers.0.self_attn.q_proj.wieght',
        'similar names',
        '"model.layers.0.self_attn.q_proj.weight"',
      );
      expect(err.message).toContain('hf-glm-tiny');
    } finally {
      await index.close();
    }
  });
});

describe('truncated and corrupt files', () => {
  let fixture: Uint8Array;
  let headerLength: number;
  beforeAll(async () => {
    fixture = await fixtureBytes('hf-glm-tiny');
    headerLength = Number(new DataView(fixture.buffer, fixture.byteOffset).getBigUint64(0, true));
  });

  const open = (bytes: Uint8Array, name = 'cut.safetensors') => openSafetensors(memoryByteSource(bytes, name));

  it('cut inside the 8-byte length: TruncatedFileError', async () => {
    for (const cut of [0, 1, 7]) {
      await expectFailure(open(fixture.slice(0, cut)), 'TruncatedFileError', 'cut.safetensors', `${cut} bytes`);
    }
  });

  it('cut inside the header: TruncatedFileError stating header length and file size', async () => {
    for (const cut of [8, 9, 8 + Math.floor(headerLength / 2), 8 + headerLength - 1]) {
      await expectFailure(
        open(fixture.slice(0, cut)),
        'TruncatedFileError',
        'cut.safetensors',
        String(headerLength),
        `file size ${cut}`,
      );
    }
  });

  it('cut inside the data: TruncatedFileError naming a tensor', async () => {
    const dataStart = 8 + headerLength;
    for (const cut of [dataStart, dataStart + 1000, fixture.byteLength - 1]) {
      const err = await expectFailure(open(fixture.slice(0, cut)), 'TruncatedFileError', 'cut.safetensors', 'tensor "');
      expect(err.message).toContain(`only ${cut} bytes`);
    }
    // The error names the first tensor (by position) that the cut reaches into.
    const header = JSON.parse(new TextDecoder().decode(fixture.subarray(8, dataStart))) as Record<
      string,
      { data_offsets: [number, number] }
    >;
    const byPosition = Object.entries(header).sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
    const cut = dataStart + 1000;
    const firstCut = byPosition.find(([, e]) => dataStart + e.data_offsets[1] > cut)![0];
    await expectFailure(
      open(fixture.slice(0, cut)),
      'TruncatedFileError',
      `tensor "${firstCut}"`,
      `${byPosition.length - 1 - byPosition.findIndex(([n]) => n === firstCut)} more tensors`,
    );
    const last = byPosition[byPosition.length - 1]![0];
    await expectFailure(open(fixture.slice(0, fixture.byteLength - 1)), 'TruncatedFileError', `tensor "${last}"`);
  });

  it('a file shrinking after open: the file source reports TruncatedFileError', async () => {
    const dir = await writeFolder('shrinks', { 'model.safetensors': fixture });
    const index = await openSafetensorsModel(nodeModelFiles(dir));
    try {
      await truncate(path.join(dir, 'model.safetensors'), 8 + headerLength + 10);
      const last = [...index.tensors.values()].sort((a, b) => b.byteOffset - a.byteOffset)[0]!;
      await expectFailure(readTensorBytes(last), 'TruncatedFileError', 'model.safetensors', 'shrank');
    } finally {
      await index.close();
    }
  });

  it('corrupt header JSON, bad UTF-8 and non-object headers: SafetensorsFormatError', async () => {
    await expectFailure(open(encodeSafetensors('{"w": {"dtype": "F32",')), 'SafetensorsFormatError', 'not valid JSON');
    const badUtf8 = encodeSafetensors('{"x":"  "}');
    badUtf8[8 + 6] = 0xff;
    await expectFailure(open(badUtf8), 'SafetensorsFormatError', 'UTF-8');
    await expectFailure(open(encodeSafetensors('[1, 2, 3]')), 'SafetensorsFormatError', 'JSON object');
    await expectFailure(open(encodeSafetensors('null')), 'SafetensorsFormatError', 'JSON object');
    // Corrupting a byte inside the real fixture's header.
    const damaged = fixture.slice();
    damaged[8 + 20] = '}'.charCodeAt(0);
    await expectFailure(open(damaged, 'damaged.safetensors'), 'SafetensorsFormatError', 'damaged.safetensors');
  });

  it('header length larger than the file: TruncatedFileError; absurd length: SafetensorsFormatError', async () => {
    const small = encodeSafetensors({}, new Uint8Array(0), { declaredHeaderLength: 5000 });
    await expectFailure(open(small, 'small.safetensors'), 'TruncatedFileError', 'small.safetensors', '5000');
    const huge = encodeSafetensors({}, new Uint8Array(0), { declaredHeaderLength: 2n ** 40n });
    await expectFailure(open(huge), 'SafetensorsFormatError', String(2n ** 40n), 'not a safetensors file');
    const max = encodeSafetensors({}, new Uint8Array(0), { declaredHeaderLength: 2n ** 64n - 1n });
    await expectFailure(open(max), 'SafetensorsFormatError', 'not a safetensors file');
    // A zip (what a PyTorch .bin is) starts with "PK\x03\x04": read as a length it is absurd.
    const zip = new Uint8Array(64);
    zip.set([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x08]);
    await expectFailure(open(zip, 'pytorch_model.bin'), 'SafetensorsFormatError', 'pytorch_model.bin');
    await expectFailure(open(encodeSafetensors('{}', undefined, { declaredHeaderLength: 0 })), 'SafetensorsFormatError', 'too small');
  });

  const entry = (overrides: Record<string, unknown>) => ({ dtype: 'F32', shape: [2], data_offsets: [0, 8], ...overrides });

  it('offsets out of range: past the data is TruncatedFileError naming the tensor, malformed is SafetensorsFormatError', async () => {
    const data = new Uint8Array(8);
    await expectFailure(
      open(encodeSafetensors({ w: entry({ shape: [3], data_offsets: [0, 12] }) }, data)),
      'TruncatedFileError',
      'tensor "w"',
      '[0, 12]',
    );
    await expectFailure(
      open(encodeSafetensors({ w: entry({ data_offsets: [8, 16] }) }, data)),
      'TruncatedFileError',
      'tensor "w"',
    );
    await expectFailure(
      open(encodeSafetensors({ w: entry({ shape: [0], data_offsets: [8, 0] }) }, data)),
      'SafetensorsFormatError',
      'tensor "w"',
      'end before',
    );
    for (const offsets of [[-8, 0], [0, 8.5], [0], 'x', [0, 8, 16]]) {
      await expectFailure(
        open(encodeSafetensors({ w: entry({ data_offsets: offsets }) }, data)),
        'SafetensorsFormatError',
        'tensor "w"',
        'data_offsets',
      );
    }
  });

  it('shape / byte count mismatch and bad shapes: SafetensorsFormatError', async () => {
    const data = new Uint8Array(16);
    await expectFailure(
      open(encodeSafetensors({ w: entry({ shape: [3] }) }, data)),
      'SafetensorsFormatError',
      'tensor "w"',
      'needs 12 bytes',
      'hold 8',
    );
    await expectFailure(
      open(encodeSafetensors({ w: entry({ dtype: 'F16', data_offsets: [0, 8] }) }, data)),
      'SafetensorsFormatError',
      'needs 4 bytes',
    );
    for (const shape of [[-2], [2.5], 'x', null, ['2']]) {
      await expectFailure(
        open(encodeSafetensors({ w: entry({ shape }) }, data)),
        'SafetensorsFormatError',
        'tensor "w"',
        'shape',
      );
    }
  });

  it('unknown dtype: SafetensorsFormatError naming the dtype', async () => {
    await expectFailure(
      open(encodeSafetensors({ w: entry({ dtype: 'F4' }) }, new Uint8Array(8))),
      'SafetensorsFormatError',
      'tensor "w"',
      '"F4"',
    );
    await expectFailure(
      open(encodeSafetensors({ w: entry({ dtype: 'f32' }) }, new Uint8Array(8))),
      'SafetensorsFormatError',
      'unknown dtype',
    );
  });

  it('overlapping tensors, non-object entries and non-string metadata: SafetensorsFormatError', async () => {
    const data = new Uint8Array(16);
    await expectFailure(
      open(encodeSafetensors({ a: entry({ data_offsets: [0, 8] }), b: entry({ data_offsets: [4, 12] }) }, data)),
      'SafetensorsFormatError',
      'overlap',
    );
    await expectFailure(open(encodeSafetensors({ w: [1, 2] }, data)), 'SafetensorsFormatError', 'tensor "w"');
    await expectFailure(
      open(encodeSafetensors({ __metadata__: { format: 1 }, w: entry({}) }, data)),
      'SafetensorsFormatError',
      '__metadata__',
    );
  });
});

describe('reads stay within the tensor asked for', () => {
  it('opening reads only the length and the header; one tensor reads exactly its own range', async () => {
    const bytes = await fixtureBytes('hf-glm-tiny');
    const inner = await fileByteSource(path.join(FIXTURES, 'hf-glm-tiny', 'model.safetensors'));
    const reads: ReadRecord[] = [];
    const source = recordingSource(inner, reads);
    try {
      const file = await openSafetensors(source);
      const headerEnd = 8 + file.headerLength;
      expect(reads).toEqual([
        { offset: 0, length: 8 },
        { offset: 8, length: file.headerLength },
      ]);
      reads.length = 0;

      const infos = [...file.tensors.values()];
      const biggest = Math.max(...infos.map((t) => t.byteLength));
      const target: TensorInfo = file.tensors.get('model.layers.1.mlp.down_proj.weight')!;
      const got = await readTensorF32(target);
      expect(reads).toEqual([{ offset: target.byteOffset, length: target.byteLength }]);
      expect(Array.from(got)).toEqual(decodeWholeFile(bytes).get(target.name)!.values);

      // Every tensor in turn: no read ever spans more than header + biggest tensor, none covers the file.
      reads.length = 0;
      for (const info of infos) await readTensorBytes(info);
      for (const read of reads) {
        expect(read.length).toBeLessThanOrEqual(headerEnd + biggest);
        expect(read.length).toBeLessThan(source.size);
      }
      expect(reads.reduce((sum, r) => sum + r.length, 0)).toBe(infos.reduce((sum, t) => sum + t.byteLength, 0));
    } finally {
      await source.close?.();
    }
  });
});

describe('byte sources', () => {
  const content = Uint8Array.from({ length: 100 }, (_, i) => i);

  async function checkSource(source: ByteSource, label: string) {
    expect(source.size).toBe(100);
    expect(Array.from(await source.read(10, 5))).toEqual([10, 11, 12, 13, 14]);
    expect((await source.read(100, 0)).byteLength).toBe(0);
    const whole = await source.read(0, 100);
    expect(whole.buffer.byteLength).toBe(100);
    await expectFailure(source.read(95, 10), 'TruncatedFileError', label, '95..105', '100 bytes');
    await expectFailure(source.read(101, 0), 'TruncatedFileError', label);
    await expectFailure(source.read(-1, 2), 'InvalidArgumentError', label);
    await expectFailure(source.read(0, 1.5), 'InvalidArgumentError', label);
  }

  it('memoryByteSource over a pooled Node Buffer still returns owned copies', async () => {
    const pooled = Buffer.from(content);
    const source = memoryByteSource(pooled, 'pooled.bin');
    const got = await source.read(3, 4);
    expect(Array.from(got)).toEqual([3, 4, 5, 6]);
    expect(got.buffer.byteLength).toBe(4);
    got[0] = 99;
    expect(pooled[3]).toBe(3);
  });

  it('memoryByteSource reads ranges as copies and bounds-checks', async () => {
    const source = memoryByteSource(content, 'mem.bin');
    await checkSource(source, 'mem.bin');
    const copy = await source.read(0, 4);
    copy[0] = 200;
    expect(content[0]).toBe(0);
  });

  it('blobByteSource reads ranges through Blob.slice and bounds-checks', async () => {
    await checkSource(blobByteSource(new Blob([content]), 'blob.bin'), 'blob.bin');
    expect(blobByteSource(new File([content], 'picked.safetensors')).name).toBe('picked.safetensors');
    const file = await openSafetensors(blobByteSource(new Blob([await fixtureBytes('hf-glm-tiny')])));
    expect(file.tensors.size).toBe(36);
  });

  it('fileByteSource reads ranges at positions and bounds-checks; a missing file is MissingFileError', async () => {
    const dir = await writeFolder('bytes', { 'data.bin': content });
    const source = await fileByteSource(path.join(dir, 'data.bin'));
    try {
      await checkSource(source, path.join(dir, 'data.bin'));
    } finally {
      await source.close?.();
    }
    await expectFailure(fileByteSource(path.join(dir, 'nope.bin')), 'MissingFileError', 'nope.bin');
  });
});
