#!/usr/bin/env python3
"""WordNet 3.0 -> chat turns for the embedded demo model (standard library only).

Reads the WordNet 3.0 database files of the Debian package `wordnet-base` (/usr/share/wordnet by default):
data.{noun,verb,adj,adv} (synsets: word forms + gloss), index.{noun,verb,adj,adv} (each lemma's senses,
most frequent first) and cntlist.rev (how often each sense was tagged in the SemCor corpus).

For each selected lemma ("word") it takes ONE sense, its primary sense: the sense with the highest SemCor
tag count over all parts of speech (ties: noun, verb, adjective, adverb, then the lower sense number; a
word never tagged gets sense 1 of its first part of speech in that order). From that synset's gloss:

  definition  the gloss up to its first quoted example, trailing ';' and spaces removed
  examples    the quoted examples ("...") of the gloss
  synonyms    the synset's other word forms ('_' -> ' ')

and writes chat turns (user question -> assistant answer):

  meaning   "What does 'X' mean?"           -> "<Definition>."           (capital first letter, final '.')
  example   "Use 'X' in a sentence."         -> "<First example>."        (only when the gloss has one)
  synonyms  "What are synonyms of 'X'?"      -> "Synonyms of 'X': a, b."  or "WordNet lists no synonyms of 'X'."

Each turn also lists paraphrases of its question (`questions`); training samples one of them.

Selection: lemmas of one word (letters with optional inner hyphens, 2+ characters, no proper nouns: the
form in the synset must be lower case) whose definition has at most --max-definition characters and whose
senses were tagged at least --min-count times in SemCor altogether (a whole frequency class, so the cut
is not alphabetical), most frequent first; --words caps the count if given. A seeded random --heldout share of them is held out entirely (never trained): the
perplexity of their definitions measures the model on text it has not memorised.

Outputs (in --out, default tools/demo-model/.data/, ignored by git):
  words.jsonl   one line per selected word: word, pos, sense, offset, count, definition, examples, synonyms, split
  turns.jsonl   one line per chat turn: split, word, kind, questions, messages [{role, content} x2]
  stats.json    counts and sizes
"""
import argparse
import json
import os
import random
import re
import sys

POS_FILES = [('n', 'noun'), ('v', 'verb'), ('a', 'adj'), ('r', 'adv')]
POS_NAMES = {'n': 'noun', 'v': 'verb', 'a': 'adjective', 'r': 'adverb'}
# cntlist.rev sense keys: lemma%ss_type:...; ss_type 1 n, 2 v, 3 a, 4 r, 5 s (satellite adjective, in index.adj).
SS_TYPE_POS = {'1': 'n', '2': 'v', '3': 'a', '4': 'r', '5': 'a'}
WORD_RE = re.compile(r"^[a-z]+(-[a-z]+)*$")

MEANING_QUESTIONS = ["What does '{w}' mean?", "What is the meaning of '{w}'?", "Define '{w}'.", "What does {w} mean?"]
EXAMPLE_QUESTIONS = ["Use '{w}' in a sentence.", "Give an example sentence with '{w}'.", "Use {w} in a sentence."]
SYNONYM_QUESTIONS = ["What are synonyms of '{w}'?", "Give synonyms of '{w}'.", "What are synonyms of {w}?"]


def read_data(wn_dir):
    """offset/pos -> (forms, gloss)."""
    synsets = {}
    for pos, name in POS_FILES:
        with open(os.path.join(wn_dir, f'data.{name}'), encoding='latin-1') as f:
            for line in f:
                if line.startswith('  '):
                    continue  # license header
                head, _, gloss = line.partition(' | ')
                parts = head.split()
                offset, w_cnt = parts[0], int(parts[3], 16)
                forms = [parts[4 + 2 * i] for i in range(w_cnt)]
                # adjective markers such as "(a)", "(p)", "(ip)" follow some adjective forms
                forms = [re.sub(r'\((a|p|ip)\)$', '', x) for x in forms]
                synsets[(pos, offset)] = (forms, gloss.strip())
    return synsets


def read_index(wn_dir):
    """lemma -> {pos: [offsets in sense-number order]}."""
    index = {}
    for pos, name in POS_FILES:
        with open(os.path.join(wn_dir, f'index.{name}'), encoding='latin-1') as f:
            for line in f:
                if line.startswith('  '):
                    continue
                parts = line.split()
                lemma, synset_cnt, p_cnt = parts[0], int(parts[2]), int(parts[3])
                offsets = parts[4 + p_cnt + 2:]
                assert len(offsets) == synset_cnt, line
                index.setdefault(lemma, {})[pos] = offsets
    return index


def read_counts(wn_dir):
    """(lemma, pos, sense_number) -> SemCor tag count."""
    counts = {}
    with open(os.path.join(wn_dir, 'cntlist.rev'), encoding='latin-1') as f:
        for line in f:
            key, sense, cnt = line.split()
            lemma, _, rest = key.partition('%')
            pos = SS_TYPE_POS[rest[0]]
            k = (lemma.lower(), pos, int(sense))
            counts[k] = counts.get(k, 0) + int(cnt)
    return counts


def split_gloss(gloss):
    quote = gloss.find('"')
    definition = gloss if quote < 0 else gloss[:quote]
    definition = definition.strip().rstrip(';').strip()
    examples = [e.strip() for e in re.findall(r'"([^"]+)"', gloss) if e.strip()]
    return definition, examples


def sentence(text):
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in '.!?' else text + '.'


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--wordnet', default='/usr/share/wordnet')
    ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '.data'))
    ap.add_argument('--min-count', type=int, default=3, help='keep words tagged at least this often in SemCor')
    ap.add_argument('--words', type=int, default=0, help='if > 0, keep at most this many words, most frequent first')
    ap.add_argument('--heldout', type=float, default=0.04, help='share of the kept words held out')
    ap.add_argument('--max-definition', type=int, default=160, help='skip words whose definition is longer (characters)')
    ap.add_argument('--seed', type=int, default=1234)
    args = ap.parse_args()

    synsets = read_data(args.wordnet)
    index = read_index(args.wordnet)
    counts = read_counts(args.wordnet)

    words = []
    for lemma, by_pos in index.items():
        if not WORD_RE.match(lemma) or len(lemma) < 2:
            continue
        best = None  # (-count, pos rank, sense number, pos, offset)
        total = 0
        for rank, (pos, _) in enumerate(POS_FILES):
            for i, offset in enumerate(by_pos.get(pos, [])):
                c = counts.get((lemma, pos, i + 1), 0)
                total += c
                key = (-c, rank, i + 1, pos, offset)
                if best is None or key < best:
                    best = key
        _, _, sense, pos, offset = best
        forms, gloss = synsets[(pos, offset)]
        if lemma not in forms:
            continue  # the synset spells it with capitals (a proper noun) or otherwise differently
        definition, examples = split_gloss(gloss)
        if not definition or len(definition) > args.max_definition:
            continue
        synonyms = []
        for x in forms:
            x = x.replace('_', ' ')
            if x.lower() != lemma and x not in synonyms:
                synonyms.append(x)
        words.append({'word': lemma, 'pos': POS_NAMES[pos], 'sense': sense, 'offset': offset, 'count': total,
                      'definition': definition, 'examples': examples, 'synonyms': synonyms})
    candidates = len(words)
    words.sort(key=lambda w: (-w['count'], w['word']))
    words = [w for w in words if w['count'] >= args.min_count]
    if args.words > 0:
        words = words[:args.words]
    rng = random.Random(args.seed)
    heldout = set(rng.sample(range(len(words)), round(len(words) * args.heldout)))
    for i, w in enumerate(words):
        w['split'] = 'heldout' if i in heldout else 'train'

    turns = []
    for w in words:
        x = w['word']
        def turn(kind, questions, answer):
            qs = [q.format(w=x) for q in questions]
            turns.append({'split': w['split'], 'word': x, 'kind': kind, 'questions': qs,
                          'messages': [{'role': 'user', 'content': qs[0]}, {'role': 'assistant', 'content': answer}]})
        turn('meaning', MEANING_QUESTIONS, sentence(w['definition']))
        if w['examples']:
            turn('example', EXAMPLE_QUESTIONS, sentence(w['examples'][0]))
        if w['synonyms']:
            turn('synonyms', SYNONYM_QUESTIONS, f"Synonyms of '{x}': {', '.join(w['synonyms'])}.")
        else:
            turn('synonyms', SYNONYM_QUESTIONS, f"WordNet lists no synonyms of '{x}'.")

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'words.jsonl'), 'w') as f:
        for w in words:
            f.write(json.dumps(w, ensure_ascii=False) + '\n')
    with open(os.path.join(args.out, 'turns.jsonl'), 'w') as f:
        for t in turns:
            f.write(json.dumps(t, ensure_ascii=False) + '\n')
    stats = {
        'wordnet': args.wordnet, 'candidates': candidates, 'words': len(words),
        'train_words': sum(w['split'] == 'train' for w in words), 'heldout_words': len(heldout),
        'tagged_words': sum(w['count'] > 0 for w in words),
        'turns': {k: sum(t['kind'] == k for t in turns) for k in ('meaning', 'example', 'synonyms')},
        'answer_chars': sum(len(t['messages'][1]['content']) for t in turns),
        'bytes': {n: os.path.getsize(os.path.join(args.out, n)) for n in ('words.jsonl', 'turns.jsonl')},
        'args': vars(args),
    }
    with open(os.path.join(args.out, 'stats.json'), 'w') as f:
        json.dump(stats, f, indent=1)
    json.dump(stats, sys.stdout, indent=1)
    print()


if __name__ == '__main__':
    main()
