#!/usr/bin/env node
// Times ONNX models with ONNX Runtime (onnxruntime-node) and, when given, with `qtune run`, under
// one protocol; also runs models on .npy inputs. Driven by scripts/peers/ort-bench.sh and
// scripts/models/make_models.py --validate; docs/peers.md describes the protocol and the output.
//
//   node ort_bench.mjs bench --models DIR [--only A,B] [--threads 1,2] [--runs N] [--rounds R]
//        [--block-ms MS] [--warmup N] [--load-threshold C] [--max-remeasure N] [--ort-dir DIR]
//        [--qtune BIN --qtune-agent ADDR --qtune-db FILE | --qtune-missing REASON]
//        [--outputs-dir DIR] [--json FILE]
//   node ort_bench.mjs infer [--threads T] [--ort-dir DIR] [--optimized-dir DIR]
//        --run MODEL.onnx:IN.npy:OUT.npy [--run ...]
//
// infer: IN.npy holds B inputs stacked on axis 0 (each the model's input shape with batch 1, or
// exactly the model's input shape); OUT.npy gets the B outputs stacked the same way.
//
// Exit codes: 0 success, 2 bad input (one line on stderr), 1 anything else.

import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

class UsageError extends Error {}

// ------------------------------------------------------------------------------------------
// Arguments

function parseArgs(argv, spec) {
  // spec: name -> default (string | number | boolean | [] for repeatable)
  const out = structuredClone(spec);
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument '${a}'`);
    let value;
    const eq = a.indexOf('=');
    if (eq >= 0) { value = a.slice(eq + 1); a = a.slice(0, eq); }
    const name = a.slice(2).replaceAll('_', '-');
    if (!(name in spec)) throw new UsageError(`unknown flag --${name}`);
    if (typeof spec[name] === 'boolean') { out[name] = true; continue; }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      value = argv[++i];
    }
    if (Array.isArray(spec[name])) out[name].push(value);
    else if (typeof spec[name] === 'number') {
      const v = Number(value);
      if (!Number.isFinite(v) || v < 0) throw new UsageError(`--${name}: '${value}' is not a non-negative number`);
      out[name] = v;
    } else out[name] = value;
  }
  return out;
}

function parseThreads(s) {
  const t = s.split(',').filter(Boolean).map(Number);
  if (!t.length || t.some((x) => !Number.isInteger(x) || x < 1 || x > 256)) {
    throw new UsageError(`--threads: '${s}' is not a list of thread counts like 1,2`);
  }
  return t;
}

// ------------------------------------------------------------------------------------------
// .npy (format 1.0/2.0, C order, little-endian float32/float64/uint8/int8/int32)

const NPY_TYPES = { '<f4': Float32Array, '<f8': Float64Array, '|u1': Uint8Array, '|i1': Int8Array, '<i4': Int32Array };

export function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new UsageError(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !(descr in NPY_TYPES) || fortran || shapeText === undefined) {
    throw new UsageError(`${file}: unsupported .npy (${descr}, fortran_order ${fortran})`);
  }
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const Type = NPY_TYPES[descr];
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + hlen;
  const bytes = buf.subarray(offset, offset + count * Type.BYTES_PER_ELEMENT);
  if (bytes.length !== count * Type.BYTES_PER_ELEMENT) throw new UsageError(`${file}: truncated`);
  const data = new Type(count);
  new Uint8Array(data.buffer).set(bytes);
  return { shape, data };
}

export function writeNpy(file, shape, data) {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(f32.buffer, f32.byteOffset, f32.byteLength)]));
}

// ------------------------------------------------------------------------------------------
// ONNX Runtime

function loadOrt(ortDir) {
  const pkg = path.join(ortDir, 'node_modules', 'onnxruntime-node', 'package.json');
  if (!fs.existsSync(pkg)) throw new UsageError(`onnxruntime-node is not installed in ${ortDir}; run scripts/peers/ort-bench.sh --install-only`);
  const require = createRequire(path.join(ortDir, 'package.json'));
  const ort = require('onnxruntime-node');
  const version = JSON.parse(fs.readFileSync(pkg, 'utf8')).version;
  return { ort, version };
}

async function createSession(ort, file, threads, optimizedFile) {
  const options = {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
  if (optimizedFile) options.optimizedModelFilePath = optimizedFile;
  return ort.InferenceSession.create(file, options);
}

function inputTensor(ort, session, shape, data) {
  const name = session.inputNames[0];
  return { [name]: new ort.Tensor('float32', data, shape) };
}

// ------------------------------------------------------------------------------------------
// CPU accounting: outside load = (busy ticks of all CPUs - ticks of the processes we run)
// / (ticks per second * wall seconds), in cores.

let CLK_TCK = 100;
try { CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; } catch { /* default */ }

function allBusyTicks() {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0);
}

function procTicks(pid, withChildren) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // fields after the comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    const own = Number(f[11]) + Number(f[12]);
    return withChildren ? own + Number(f[13]) + Number(f[14]) : own;
  } catch { return 0; }
}

function listeningPids(port) {
  // Processes holding a listening TCP socket on `port` (loopback agents), via /proc.
  const inodes = new Set();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = fs.readFileSync(table, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const localPort = parseInt(f[1].split(':')[1], 16);
      if (localPort === port && f[3] === '0A') inodes.add(f[9]);
    }
  }
  const pids = [];
  if (!inodes.size) return pids;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds = [];
    try { fds = fs.readdirSync(`/proc/${pid}/fd`); } catch { continue; }
    for (const fd of fds) {
      let link = '';
      try { link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1])) { pids.push(Number(pid)); break; }
    }
  }
  return pids;
}

function descendants(roots) {
  const parent = new Map();
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      parent.set(Number(pid), Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const out = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parent) if (out.has(ppid) && !out.has(pid)) { out.add(pid); grew = true; }
  }
  return [...out];
}

class LoadMeter {
  constructor(agentPort) { this.agentPort = agentPort; }

  ownTicks() {
    // This process with its reaped children (qtune run), plus the agent's process tree.
    let t = procTicks('self', true);
    if (this.agentPort) for (const pid of descendants(listeningPids(this.agentPort))) t += procTicks(pid, true);
    return t;
  }

  start() { return { all: allBusyTicks(), own: this.ownTicks(), t: process.hrtime.bigint() }; }

  stop(s) {
    const wall = Number(process.hrtime.bigint() - s.t) / 1e9;
    const outside = (allBusyTicks() - s.all) - (this.ownTicks() - s.own);
    return Math.max(0, outside) / (CLK_TCK * Math.max(wall, 1e-3));
  }
}

// ------------------------------------------------------------------------------------------
// Contenders: each has run(block) -> { samples: [ms...], ...extra }

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n ? (n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2) : null;
}

class OrtContender {
  constructor(entry, threads, session, feeds) {
    Object.assign(this, { entry, threads, session, feeds, runtime: 'ort' });
  }

  async block(opts) {
    await this.session.run(this.feeds);                 // one untimed run
    const samples = [];
    let total = 0;
    while (samples.length < opts.runs || total < opts.blockMs) {
      const t0 = process.hrtime.bigint();
      await this.session.run(this.feeds);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      samples.push(ms);
      total += ms;
    }
    return { samples };
  }
}

function runProcess(bin, args) {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', (e) => resolve({ code: -1, out, err: String(e) }));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

// `qtune run --json` prints one JSON object per line, "event" first: {"event":"op",...} per
// operator, then {"event":"run","model","threads","median_ms","min_ms","runs","check",...}.
export function parseQtuneJson(text) {
  const ops = [];
  let run = null;
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (!l.startsWith('{')) continue;
    let obj;
    try { obj = JSON.parse(l); } catch { continue; }
    if (obj.event === 'op') ops.push(obj);
    else if (obj.event === 'run') run = obj;
  }
  if (!run) return { error: 'no {"event":"run"} line in its output' };
  for (const k of ['median_ms', 'min_ms', 'runs']) {
    if (typeof run[k] !== 'number') return { error: `its run event has no numeric "${k}"` };
  }
  return { ops, run };
}

class QtuneContender {
  constructor(entry, threads, file, opts) {
    Object.assign(this, { entry, threads, file, opts, runtime: 'qtune' });
  }

  args(extra = []) {
    const o = this.opts;
    return ['run', '--onnx', this.file, '--agent', o['qtune-agent'], '--db', o['qtune-db'],
      '--threads', String(this.threads), '--json', ...extra];
  }

  async block(opts) {
    const r = await runProcess(this.opts.qtune, this.args(['--runs', String(opts.runs)]));
    const parsed = parseQtuneJson(r.out);
    if (r.code !== 0 || parsed.error) {
      const why = r.code !== 0 ? (r.err.trim().split('\n').pop() || `exit ${r.code}`) : parsed.error;
      return { samples: [], error: `qtune run: ${why}` };
    }
    const run = parsed.run;
    // Pool the per-run times when qtune reports them, else its median stands for the block.
    const samples = Array.isArray(run.samples_ms) && run.samples_ms.length ? run.samples_ms : [run.median_ms];
    return { samples, min: run.min_ms, check: run.check ?? null, ops: parsed.ops, run };
  }
}

// ------------------------------------------------------------------------------------------
// bench

function readManifest(dir, only) {
  const file = path.join(dir, 'models.json');
  if (!fs.existsSync(file)) throw new UsageError(`${file} not found; run scripts/models/make_models.py`);
  const m = JSON.parse(fs.readFileSync(file, 'utf8'));
  let models = m.models;
  if (only.length) {
    const names = new Set(models.map((e) => e.name));
    const bad = only.find((n) => !names.has(n));
    if (bad) throw new UsageError(`--only: '${bad}' is not in ${file}`);
    models = models.filter((e) => only.includes(e.name));
  }
  for (const e of models) {
    if (!fs.existsSync(path.join(dir, e.file))) throw new UsageError(`${path.join(dir, e.file)} missing; run scripts/models/make_models.py`);
  }
  return { manifest: m, models };
}

function cpuName() {
  const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
  return line ? line.split(':')[1].trim() : os.cpus()[0]?.model ?? 'unknown';
}

async function measureRounds(contenders, o, meter, log) {
  const n = contenders.length;
  const acc = contenders.map(() => ({ samples: [], mins: [], rounds: 0, remeasures: 0, maxLoad: 0, loaded: false, errors: [], last: null }));
  for (let r = 0; r < o.rounds; r++) {
    let best = null;
    for (let attempt = 0; attempt <= o['max-remeasure']; attempt++) {
      const s = meter.start();
      const results = new Array(n);
      for (let k = 0; k < n; k++) {
        const i = (r + k) % n;                         // rotating order
        results[i] = await contenders[i].block({ runs: o.runs, blockMs: o['block-ms'] });
      }
      const load = meter.stop(s);
      if (!best || load < best.load) best = { load, results, attempt };
      if (load <= o['load-threshold']) break;
      log(`  round ${r + 1}: outside load ${load.toFixed(2)} cores > ${o['load-threshold']}, ${attempt < o['max-remeasure'] ? 'measuring again' : 'keeping the least loaded attempt'}`);
    }
    for (let i = 0; i < n; i++) {
      const a = acc[i], res = best.results[i];
      a.rounds++;
      a.remeasures += best.attempt;
      a.maxLoad = Math.max(a.maxLoad, best.load);
      a.loaded ||= best.load > o['load-threshold'];
      if (res.error) { a.errors.push(res.error); continue; }
      a.samples.push(...res.samples);
      a.mins.push(res.min ?? Math.min(...res.samples));
      a.last = res;
    }
  }
  return acc;
}

async function bench(argv) {
  const o = parseArgs(argv, {
    models: path.join(ROOT, 'build', 'models'), only: '', threads: '1,2', runs: 5, rounds: 5,
    'block-ms': 200, warmup: 3, 'load-threshold': 0.25, 'max-remeasure': 3,
    'ort-dir': path.join(ROOT, 'build', 'peers', 'ort'), 'outputs-dir': '',
    qtune: '', 'qtune-agent': '', 'qtune-db': '', 'qtune-missing': '', json: '', quiet: false,
  });
  const threads = parseThreads(o.threads);
  if (o.runs < 1 || o.rounds < 1) throw new UsageError('--runs and --rounds must be >= 1');
  const { manifest, models } = readManifest(o.models, o.only.split(',').filter(Boolean));
  const useQtune = Boolean(o.qtune);
  if (useQtune && (!o['qtune-agent'] || !o['qtune-db'])) throw new UsageError('--qtune needs --qtune-agent and --qtune-db');
  const log = o.quiet ? () => {} : (s) => process.stderr.write(s + '\n');
  const { ort, version } = loadOrt(o['ort-dir']);
  const outputsDir = o['outputs-dir'] || o['ort-dir'];

  const input = readNpy(path.join(o.models, manifest.input_file));
  const agentPort = useQtune ? Number(o['qtune-agent'].split(':').pop()) : 0;
  const meter = new LoadMeter(agentPort);
  const qtuneInput = path.join(o.models, manifest.input_file);

  const results = [];
  let outputsWritten = false;
  for (const t of threads) {
    log(`threads ${t}: loading ${models.length} models`);
    const contenders = [];
    for (const e of models) {
      const file = path.join(o.models, e.file);
      const session = await createSession(ort, file, t);
      const feeds = inputTensor(ort, session, e.input.shape, input.data);
      for (let w = 0; w < o.warmup; w++) await session.run(feeds);
      if (!outputsWritten) {
        const out = (await session.run(feeds))[session.outputNames[0]];
        writeNpy(path.join(outputsDir, `${e.name}.output.npy`), out.dims, out.data);
      }
      contenders.push(new OrtContender(e, t, session, feeds));
      if (useQtune) contenders.push(new QtuneContender(e, t, file, o));
    }
    if (useQtune && !outputsWritten) {
      for (const c of contenders.filter((c) => c.runtime === 'qtune')) {
        const out = path.join(path.dirname(outputsDir), 'qtune', `${c.entry.name}.output.npy`);
        fs.mkdirSync(path.dirname(out), { recursive: true });
        const r = await runProcess(o.qtune, c.args(['--runs', '1', '--input', qtuneInput, '--output', out]));
        if (r.code !== 0) log(`  qtune run --output for ${c.entry.name} failed: ${r.err.trim().split('\n').pop() || `exit ${r.code}`}`);
      }
    }
    outputsWritten = true;
    log(`threads ${t}: ${o.rounds} rounds of ${contenders.length} contenders`);
    const acc = await measureRounds(contenders, o, meter, log);
    contenders.forEach((c, i) => {
      const a = acc[i];
      const row = {
        model: c.entry.name, file: c.entry.file, family: c.entry.family, format: c.entry.format,
        activation_type: c.entry.activation_type, threads: t, runtime: c.runtime,
        median_ms: a.samples.length ? median(a.samples) : null,
        min_ms: a.mins.length ? Math.min(...a.mins) : null,
        samples: a.samples.length, rounds: a.rounds, remeasures: a.remeasures,
        max_outside_load: Number(a.maxLoad.toFixed(3)), measured_under_load: a.loaded,
      };
      if (c.runtime === 'qtune') {
        row.check = a.last?.check ?? null;
        row.ops = a.last?.ops ?? [];
        if (a.errors.length) row.error = a.errors[a.errors.length - 1];
      }
      results.push(row);
    });
    for (const c of contenders) if (c.session) await c.session.release();
  }

  const report = {
    benchmark: 'models', cpu: cpuName(), onnxruntime: `onnxruntime-node ${version}`, node: process.version,
    created_at: new Date().toISOString(), models_dir: path.resolve(o.models), manifest_seed: manifest.seed,
    protocol: {
      threads, rounds: o.rounds, block_runs: o.runs, block_ms: o['block-ms'], warmup: o.warmup,
      load_threshold: o['load-threshold'], max_remeasure: o['max-remeasure'],
      ort_session: { intraOpNumThreads: 'threads', interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' },
    },
    qtune: useQtune ? { binary: o.qtune, agent: o['qtune-agent'], db: o['qtune-db'] } : { missing: o['qtune-missing'] || 'not requested' },
    results,
    speedups: speedups(results),
  };
  printTable(report);
  if (o.json) {
    fs.mkdirSync(path.dirname(path.resolve(o.json)), { recursive: true });
    fs.writeFileSync(o.json, JSON.stringify(report, null, 2) + '\n');
  }
}

function speedups(results) {
  // int8-over-fp32 per runtime: fp32 median / int8 median of the same family and thread count.
  const out = [];
  for (const r of results) {
    if (r.format === 'fp32') continue;
    const base = results.find((b) => b.family === r.family && b.format === 'fp32' && b.threads === r.threads && b.runtime === r.runtime);
    if (!base) continue;
    out.push({ model: r.model, threads: r.threads, runtime: r.runtime,
      speedup_over_fp32: base.median_ms && r.median_ms ? Number((base.median_ms / r.median_ms).toFixed(3)) : null });
  }
  return out;
}

function fmt(x, d = 2) { return x === null || x === undefined ? '-' : x.toFixed(d); }
function pad(s, n, right = false) { s = String(s); return right ? s.padStart(n) : s.padEnd(n); }

function printTable(rep) {
  const rows = rep.results;
  const get = (m, t, rt) => rows.find((r) => r.model === m && r.threads === t && r.runtime === rt);
  const p = rep.protocol;
  const lines = [];
  lines.push(`CPU: ${rep.cpu}; ${rep.onnxruntime}, node ${rep.node}`);
  lines.push(`protocol: ${p.rounds} interleaved rounds, block >= ${p.block_runs} runs and >= ${p.block_ms} ms, median over all timed runs; outside-load threshold ${p.load_threshold} cores`);
  if (rep.qtune.missing) lines.push(`qtune column missing: ${rep.qtune.missing}`);
  lines.push('');
  lines.push(`${pad('model', 22)} ${pad('thr', 3, true)} ${pad('ORT ms', 8, true)} ${pad('(min)', 8, true)} ${pad('qtune ms', 9, true)} ${pad('(min)', 8, true)} ${pad('ORT/qtune', 9, true)}  notes`);
  const models = [...new Set(rows.map((r) => r.model))];
  for (const t of p.threads) {
    for (const m of models) {
      const a = get(m, t, 'ort'), q = get(m, t, 'qtune');
      if (!a) continue;
      const ratio = q?.median_ms ? a.median_ms / q.median_ms : null;
      const notes = [];
      if (a.measured_under_load || q?.measured_under_load) notes.push('[LOADED]');
      if (q?.check) notes.push(`check ${q.check}`);
      if (q?.error) notes.push(q.error);
      lines.push(`${pad(m, 22)} ${pad(t, 3, true)} ${pad(fmt(a.median_ms), 8, true)} ${pad(fmt(a.min_ms), 8, true)} ${pad(fmt(q?.median_ms), 9, true)} ${pad(fmt(q?.min_ms), 8, true)} ${pad(ratio ? fmt(ratio) + 'x' : '-', 9, true)}  ${notes.join(' ')}`);
    }
  }
  lines.push('');
  lines.push('int8 speed-up over fp32 (fp32 median / int8 median, same runtime and threads):');
  lines.push(`${pad('model', 22)} ${pad('thr', 3, true)} ${pad('ORT', 7, true)} ${pad('qtune', 7, true)}`);
  for (const t of p.threads) {
    for (const m of models) {
      const a = rep.speedups.find((s) => s.model === m && s.threads === t && s.runtime === 'ort');
      if (!a) continue;
      const q = rep.speedups.find((s) => s.model === m && s.threads === t && s.runtime === 'qtune');
      lines.push(`${pad(m, 22)} ${pad(t, 3, true)} ${pad(a.speedup_over_fp32 ? fmt(a.speedup_over_fp32) + 'x' : '-', 7, true)} ${pad(q?.speedup_over_fp32 ? fmt(q.speedup_over_fp32) + 'x' : '-', 7, true)}`);
    }
  }
  if (p.threads.length > 1) {
    lines.push('');
    lines.push(`scaling (median at ${p.threads[0]} thread / median at T):`);
    for (const t of p.threads.slice(1)) {
      for (const m of models) {
        const parts = ['ort', 'qtune'].map((rt) => {
          const a = get(m, p.threads[0], rt), b = get(m, t, rt);
          return a?.median_ms && b?.median_ms ? `${rt} ${fmt(a.median_ms / b.median_ms)}x` : null;
        }).filter(Boolean);
        lines.push(`${pad(m, 22)} ${pad(t, 3, true)}  ${parts.join('  ')}`);
      }
    }
  }
  process.stdout.write(lines.join('\n') + '\n');
}

// ------------------------------------------------------------------------------------------
// infer

async function infer(argv) {
  const o = parseArgs(argv, { threads: '1', 'ort-dir': path.join(ROOT, 'build', 'peers', 'ort'), 'optimized-dir': '', run: [] });
  const [t] = parseThreads(o.threads);
  if (!o.run.length) throw new UsageError('infer needs at least one --run MODEL.onnx:IN.npy:OUT.npy');
  const { ort } = loadOrt(o['ort-dir']);
  for (const spec of o.run) {
    const parts = spec.split(':');
    if (parts.length !== 3) throw new UsageError(`--run '${spec}' is not MODEL.onnx:IN.npy:OUT.npy`);
    const [model, inFile, outFile] = parts;
    if (!fs.existsSync(model)) throw new UsageError(`${model}: no such file`);
    const x = readNpy(inFile);
    if (!(x.data instanceof Float32Array)) throw new UsageError(`${inFile}: needs float32`);
    const optimized = o['optimized-dir'] ? path.join(o['optimized-dir'], path.basename(model).replace(/\.onnx$/, '.ort-optimized.onnx')) : undefined;
    if (optimized) fs.mkdirSync(o['optimized-dir'], { recursive: true });
    const session = await createSession(ort, model, t, optimized);
    const meta = session.inputMetadata?.[0];
    const inShape = meta?.shape?.map((d) => (typeof d === 'number' ? d : 1)) ?? [1, ...x.shape.slice(1)];
    const per = inShape.reduce((a, b) => a * b, 1);
    if (x.data.length % per !== 0) throw new UsageError(`${inFile}: ${x.shape} does not split into inputs of ${inShape}`);
    const batch = x.data.length / per;
    const chunks = [];
    let outDims = null;
    for (let b = 0; b < batch; b++) {
      const feeds = inputTensor(ort, session, inShape, x.data.subarray(b * per, (b + 1) * per));
      const out = (await session.run(feeds))[session.outputNames[0]];
      outDims = out.dims;
      chunks.push(Float32Array.from(out.data));
    }
    const all = new Float32Array(chunks.reduce((a, c) => a + c.length, 0));
    let off = 0;
    for (const c of chunks) { all.set(c, off); off += c.length; }
    writeNpy(outFile, batch === 1 ? outDims : [batch, ...outDims], all);
    await session.release();
  }
}

// ------------------------------------------------------------------------------------------

async function main() {
  const [cmd, ...rest] = process.argv.slice(2);
  if (!cmd || cmd === '--help' || cmd === '-h') {
    const text = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
    const end = text.findIndex((l) => l.startsWith('import '));
    process.stdout.write(text.slice(1, end).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
    return;
  }
  if (cmd === 'bench') return bench(rest);
  if (cmd === 'infer') return infer(rest);
  throw new UsageError(`unknown command '${cmd}' (bench | infer)`);
}

main().catch((e) => {
  process.stderr.write(`ort_bench: ${e instanceof UsageError ? e.message : (e?.message ?? e)}\n`);
  process.exit(e instanceof UsageError ? 2 : 1);
});
