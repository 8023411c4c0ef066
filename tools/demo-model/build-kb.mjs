#!/usr/bin/env node
// WordNet 3.0 -> the demo's knowledge base: one compact, static, gzip-compressed text file that the
// engine's retrieval step reads (src/knowledge/wordnet.ts parses it; the format is documented there).
//
// Reads the database files of Debian's `wordnet-base` package (default /usr/share/wordnet):
//   data.{noun,verb,adj,adv}   synsets: word forms and gloss
//   index.{noun,verb,adj,adv}  each lemma's senses in sense-number order
//   cntlist.rev                SemCor tag counts per sense (used to pick each lemma's primary sense)
//   {noun,verb,adj,adv}.exc    WordNet's morphological exception lists ("geese" -> "goose")
//
// Primary sense of a lemma (the sense a plain "What does X mean?" is answered with): the sense with the
// highest SemCor tag count over all parts of speech; ties: noun, verb, adjective, adverb, then the lower
// sense number (an untagged lemma gets sense 1 of its first part of speech in that order). This is the
// rule the first demo model used (make_data.py).
//
// Usage: node tools/demo-model/build-kb.mjs [--wordnet /usr/share/wordnet] [--out public/models/glm-demo/knowledge-wordnet.bin]
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    wordnet: { type: 'string', default: '/usr/share/wordnet' },
    out: { type: 'string', default: 'public/models/glm-demo/knowledge-wordnet.bin' },
  },
});

const POS = [
  ['n', 'noun'],
  ['v', 'verb'],
  ['a', 'adj'],
  ['r', 'adv'],
];
// cntlist.rev sense keys: lemma%ss_type:...; ss_type 1 n, 2 v, 3 a, 4 r, 5 s (satellite adjective, listed in index.adj).
const SS_TYPE_POS = { 1: 'n', 2: 'v', 3: 'a', 4: 'r', 5: 'a' };

const read = (name) => readFileSync(`${args.wordnet}/${name}`, 'latin1');
const lines = (name) => read(name).split('\n').filter((l) => l && !l.startsWith('  '));

/** The gloss up to its first quoted example (trailing ';' removed), and the quoted examples. */
function splitGloss(gloss) {
  const quote = gloss.indexOf('"');
  const definition = (quote < 0 ? gloss : gloss.slice(0, quote)).trim().replace(/;+$/, '').trim();
  const examples = [...gloss.matchAll(/"([^"]+)"/g)].map((m) => m[1].trim()).filter(Boolean);
  return { definition, examples };
}

const clean = (s) => s.replace(/[\t\n\r]/g, ' ');

// ---- synsets ----
const synsetIndex = new Map(); // `${pos}:${offset}` -> index into synsets
const synsets = []; // [pos, forms[], definition, examples[]]
for (const [pos, name] of POS) {
  for (const line of lines(`data.${name}`)) {
    const bar = line.indexOf(' | ');
    const head = line.slice(0, bar < 0 ? line.length : bar).split(' ');
    const gloss = bar < 0 ? '' : line.slice(bar + 3).trim();
    const wordCount = parseInt(head[3], 16);
    const forms = [];
    for (let i = 0; i < wordCount; i++) forms.push(head[4 + 2 * i].replace(/\((a|p|ip)\)$/, ''));
    const { definition, examples } = splitGloss(gloss);
    synsetIndex.set(`${pos}:${head[0]}`, synsets.length);
    synsets.push([pos, forms, clean(definition), examples.map(clean)]);
  }
}

// ---- lemmas ----
const counts = new Map(); // `${lemma}|${pos}|${sense}` -> SemCor count
for (const line of read('cntlist.rev').split('\n')) {
  if (!line) continue;
  const [key, sense, cnt] = line.split(' ');
  const pct = key.indexOf('%');
  const lemma = key.slice(0, pct).toLowerCase();
  const pos = SS_TYPE_POS[key[pct + 1]];
  const k = `${lemma}|${pos}|${sense}`;
  counts.set(k, (counts.get(k) ?? 0) + Number(cnt));
}

const lemmas = new Map(); // lemma -> {n: [synset idx], v: [...], a: [...], r: [...]}
for (const [pos, name] of POS) {
  for (const line of lines(`index.${name}`)) {
    const parts = line.trim().split(' ');
    const lemma = parts[0];
    const synsetCount = Number(parts[2]);
    const pointerCount = Number(parts[3]);
    const offsets = parts.slice(4 + pointerCount + 2);
    if (offsets.length !== synsetCount) throw new Error(`index.${name}: bad line ${line}`);
    const entry = lemmas.get(lemma) ?? { n: [], v: [], a: [], r: [] };
    entry[pos] = offsets.map((o) => {
      const i = synsetIndex.get(`${pos}:${o}`);
      if (i === undefined) throw new Error(`index.${name}: ${lemma} points at missing synset ${o}`);
      return i;
    });
    lemmas.set(lemma, entry);
  }
}

function primarySense(lemma, entry) {
  let best = null;
  for (const [pos] of POS) {
    entry[pos].forEach((_, i) => {
      const c = counts.get(`${lemma}|${pos}|${i + 1}`) ?? 0;
      if (best === null || c > best.count) best = { pos, sense: i, count: c };
    });
  }
  return best;
}

// ---- exceptions ----
const exceptions = [];
for (const [pos, name] of POS) {
  for (const line of lines(`${name}.exc`)) {
    const [form, ...bases] = line.trim().split(' ');
    if (form && bases.length) exceptions.push(`${pos}\t${form}\t${bases.join(' ')}`);
  }
}

// ---- write ----
const out = [];
out.push('glm-webgpu-wordnet-kb\t1\tWordNet 3.0 (c) 2006 Princeton University; see LICENSE-WordNet.txt');
out.push(`S\t${synsets.length}`);
for (const [pos, forms, definition, examples] of synsets) out.push([pos, forms.join(' '), definition, ...examples].join('\t'));
const sorted = [...lemmas.keys()].sort();
out.push(`L\t${sorted.length}`);
let tagged = 0;
for (const lemma of sorted) {
  const e = lemmas.get(lemma);
  const p = primarySense(lemma, e);
  if (p.count > 0) tagged++;
  out.push([lemma, `${p.pos}${p.sense}`, e.n.join(','), e.v.join(','), e.a.join(','), e.r.join(','), p.count].join('\t'));
}
out.push(`X\t${exceptions.length}`);
out.push(...exceptions);
const text = out.join('\n') + '\n';
const gz = gzipSync(Buffer.from(text, 'utf8'), { level: 9 });
writeFileSync(args.out, gz);
console.log(
  JSON.stringify({
    synsets: synsets.length,
    lemmas: sorted.length,
    taggedLemmas: tagged,
    exceptions: exceptions.length,
    textBytes: Buffer.byteLength(text),
    gzipBytes: gz.length,
    sha256: createHash('sha256').update(gz).digest('hex'),
    out: args.out,
  }),
);
