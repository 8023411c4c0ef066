#!/usr/bin/env python3
"""Tokenizer + tiny GLM (transformers' GlmForCausalLM) trained to answer from a retrieved WordNet entry.

Runs on the GPU machine (PyTorch + transformers + tokenizers); `--smoke` runs a short CPU check of the whole
pipeline with a toy model. Input: the conversations of make-data.mjs (`kb-train.jsonl.gz`: user question,
the observation the engine's retrieval step adds, the assistant reply) and its evaluation prompts
(`kb-eval.jsonl`). Steps:

 1. Byte-level BPE tokenizer (--vocab ids) trained on the conversations' texts, with GLM-4's pre-tokenizer
    regex, its special tokens and its chat template (tokenizer_config.json).
 2. GlmForCausalLM trained on the conversations; the loss is on each assistant reply only:
    "\n" + reply + the role token that follows it (<|user|>, which ends a GLM-4 reply).
 3. The trained weights rounded to float16 are THE model: saved in float32 (--out/hf-f32) and float16
    (--out/hf-f16, sharded below 16 MiB); both hold the same values.
 4. A quick check with transformers (float32, greedy): the evaluation words' "What does 'X' mean?" with
    their observations (report.json); the real evaluation runs our engine (evaluate.mjs).
"""
import argparse
import gzip
import json
import math
import os
import random
import re
import time

import torch
import torch.nn.functional as F
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GlmConfig, GlmForCausalLM, PreTrainedTokenizerFast

SPECIALS = ['<|endoftext|>', '[MASK]', '[gMASK]', '[sMASK]', '<sop>', '<eop>', '<|system|>', '<|user|>', '<|assistant|>', '<|observation|>']
# GLM-4's own pre-tokenizer (THUDM/glm-4-9b-chat-hf tokenizer.json).
GLM4_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
CHAT_TEMPLATE = ('[gMASK]<sop>{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}{% endfor %}'
                 '{% if add_generation_prompt %}<|assistant|>{% endif %}')
ROLE_TOKEN = {'user': '<|user|>', 'assistant': '<|assistant|>', 'observation': '<|observation|>', 'system': '<|system|>'}

MODEL = dict(hidden_size=384, num_hidden_layers=8, num_attention_heads=6, num_key_value_heads=2, head_dim=64,
             intermediate_size=1280)
SMOKE_MODEL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                   intermediate_size=96)
MAX_LEN = 1024


def log(*a):
    print(*a, flush=True)


# Match rule, shared with answer-match.mjs (keep the two in step).
def first_sentence(text):
    """Up to the first line break, then up to the first '.', '!' or '?' followed by spaces and a capital."""
    text = text.strip().split('\n')[0]
    m = re.search(r'[.!?](?=\s+[A-Z])', text)
    return text[:m.end()] if m else text


def normalise(text):
    return ' '.join(re.sub(r'[^a-z0-9]+', ' ', text.lower()).split())


def matches(answer, reference):
    return normalise(first_sentence(answer)) == normalise(first_sentence(reference))


def train_tokenizer(texts, vocab_size):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GLM4_SPLIT), behavior='isolated', invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    specials = [AddedToken(s, special=True, normalized=False) for s in SPECIALS]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2)
    tok.train_from_iterator(texts, trainer)
    ids = {s: tok.token_to_id(s) for s in SPECIALS}
    tok.post_processor = processors.TemplateProcessing(
        single='[gMASK] <sop> $A', pair='[gMASK] <sop> $A $B:1',
        special_tokens=[('[gMASK]', ids['[gMASK]']), ('<sop>', ids['<sop>'])])
    return tok


def write_tokenizer(tok, folder):
    os.makedirs(folder, exist_ok=True)
    tok.save(os.path.join(folder, 'tokenizer.json'))
    cfg = {
        'tokenizer_class': 'PreTrainedTokenizerFast',
        'chat_template': CHAT_TEMPLATE,
        'eos_token': '<|endoftext|>',
        'pad_token': '<|endoftext|>',
        'clean_up_tokenization_spaces': False,
        'model_max_length': MAX_LEN,
        'added_tokens_decoder': {},
    }
    with open(os.path.join(folder, 'tokenizer_config.json'), 'w') as f:
        json.dump(cfg, f, indent=1, ensure_ascii=False)


class Encoder:
    """Chat ids built piece by piece (role token, then the tokens of "\\n" + content); equal to tokenizing the
    rendered template, since special tokens split the text (checked in main)."""

    def __init__(self, tok):
        self.tok = tok
        self.sp = {s: tok.token_to_id(s) for s in SPECIALS}

    def texts(self, strings):
        return [e.ids for e in self.tok.encode_batch(strings, add_special_tokens=False)]

    def conversation(self, messages, pieces):
        """messages + their content ids -> ids, labels (-100 except on assistant replies and the role token
        after each reply: <|user|> when the conversation ends there)."""
        sp = self.sp
        ids = [sp['[gMASK]'], sp['<sop>']]
        labels = [-100, -100]
        prev_assistant = False
        for m, piece in zip(messages, pieces):
            role = sp[ROLE_TOKEN[m['role']]]
            ids.append(role)
            labels.append(role if prev_assistant else -100)
            ids += piece
            labels += piece if m['role'] == 'assistant' else [-100] * len(piece)
            prev_assistant = m['role'] == 'assistant'
        if prev_assistant:
            ids.append(sp['<|user|>'])
            labels.append(sp['<|user|>'])
        return ids, labels

    def prompt(self, messages):
        sp = self.sp
        ids = [sp['[gMASK]'], sp['<sop>']]
        for m, piece in zip(messages, self.texts(['\n' + m['content'] for m in messages])):
            ids += [sp[ROLE_TOKEN[m['role']]]] + piece
        return ids + [sp['<|assistant|>']]


def make_batches(convs, max_tokens, rng, chunk=4096):
    """Length-bucketed batches of at most max_tokens padded tokens; batch order shuffled."""
    order = list(range(len(convs)))
    rng.shuffle(order)
    batches = []
    for s in range(0, len(order), chunk):
        part = sorted(order[s:s + chunk], key=lambda i: len(convs[i][0]))
        cur, cur_len = [], 0
        for i in part:
            L = len(convs[i][0])
            if cur and max(cur_len, L) * (len(cur) + 1) > max_tokens:
                batches.append(cur)
                cur, cur_len = [], 0
            cur.append(i)
            cur_len = max(cur_len, L)
        if cur:
            batches.append(cur)
    rng.shuffle(batches)
    return batches


def collate(convs, batch, pad_id, device):
    L = max(len(convs[i][0]) for i in batch)
    ids = torch.full((len(batch), L), pad_id, dtype=torch.long)
    lab = torch.full((len(batch), L), -100, dtype=torch.long)
    for r, i in enumerate(batch):
        x, y = convs[i]
        ids[r, :len(x)] = torch.tensor(x)
        lab[r, :len(y)] = torch.tensor(y)
    return ids.to(device, non_blocking=True), lab.to(device, non_blocking=True)


@torch.no_grad()
def greedy(model, enc, prompt_ids, stop, max_new, device):
    ids = torch.tensor([prompt_ids], device=device)
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new, do_sample=False,
                         eos_token_id=stop, pad_token_id=stop[0])
    new = out[0, len(prompt_ids):].tolist()
    if new and new[-1] in stop:
        new = new[:-1]
    return enc.tok.decode(new, skip_special_tokens=False).lstrip('\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument('--data', default=os.path.join(here, '.data'))
    ap.add_argument('--out', default=os.path.join(here, '.hf'))
    ap.add_argument('--vocab', type=int, default=8192)
    ap.add_argument('--minutes', type=float, default=5.0, help='training time; sets the step count after a timed start')
    ap.add_argument('--steps', type=int, default=0, help='fixed step count instead of --minutes')
    ap.add_argument('--batch-tokens', type=int, default=65536)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--warmup', type=int, default=300)
    ap.add_argument('--weight-decay', type=float, default=0.01)
    ap.add_argument('--seed', type=int, default=1234)
    ap.add_argument('--smoke', action='store_true', help='toy model, CPU, a few steps: checks the pipeline')
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    device = 'cuda' if torch.cuda.is_available() and not args.smoke else 'cpu'
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    t_start = time.time()

    with gzip.open(os.path.join(args.data, 'kb-train.jsonl.gz'), 'rt', encoding='utf-8') as f:
        conversations = [json.loads(l)['messages'] for l in f]
    evals = [json.loads(l) for l in open(os.path.join(args.data, 'kb-eval.jsonl'), encoding='utf-8')]
    if args.smoke:
        conversations = conversations[:3000]
        evals = evals[:5] + evals[-3:]
    log(f'data: {len(conversations)} conversations, {len(evals)} evaluation prompts, {time.time() - t_start:.0f} s')

    # 1. tokenizer
    sample = conversations if len(conversations) < 60000 else rng.sample(conversations, 60000)
    tok = train_tokenizer(['\n' + m['content'] for c in sample for m in c], args.vocab if not args.smoke else 1024)
    V = tok.get_vocab_size()
    f32_dir, f16_dir = os.path.join(args.out, 'hf-f32'), os.path.join(args.out, 'hf-f16')
    for d in (f32_dir, f16_dir):
        write_tokenizer(tok, d)
    enc = Encoder(tok)
    sp = enc.sp
    stop = [sp['<|endoftext|>'], sp['<|user|>'], sp['<|observation|>']]
    log(f'tokenizer: {V} ids, specials {sp}, {time.time() - t_start:.0f} s')

    flat = [m['content'] for c in conversations for m in c]
    pieces = enc.texts(['\n' + t for t in flat])
    convs, at, dropped = [], 0, 0
    for c in conversations:
        ids, labels = enc.conversation(c, pieces[at:at + len(c)])
        at += len(c)
        if len(ids) > MAX_LEN:
            dropped += 1
            continue
        convs.append((ids, labels))
    n_tokens = sum(len(x) for x, _ in convs)
    log(f'encoded: {len(convs)} conversations ({dropped} over {MAX_LEN} tokens dropped), {n_tokens} tokens, {time.time() - t_start:.0f} s')

    # The piecewise ids must equal what transformers' chat template + tokenizer produce (the engine does that).
    hf_tok = PreTrainedTokenizerFast.from_pretrained(f32_dir)
    for c in conversations[:40]:
        ids, _ = enc.conversation(c, enc.texts(['\n' + m['content'] for m in c]))
        text = hf_tok.apply_chat_template(c, tokenize=False) + '<|user|>'
        ref = hf_tok(text, add_special_tokens=False)['input_ids']
        assert ids == ref, (text, ids, ref)
        gen = hf_tok.apply_chat_template(c[:2], tokenize=False, add_generation_prompt=True)
        assert enc.prompt(c[:2]) == hf_tok(gen, add_special_tokens=False)['input_ids'], gen
    log('tokenizer: piecewise chat ids == apply_chat_template ids')

    # 2. model
    shape = SMOKE_MODEL if args.smoke else MODEL
    config = GlmConfig(vocab_size=V, **shape, partial_rotary_factor=0.5, attention_bias=True, rms_norm_eps=1e-5,
                       max_position_embeddings=MAX_LEN, tie_word_embeddings=False, hidden_act='silu',
                       pad_token_id=sp['<|endoftext|>'], eos_token_id=stop, bos_token_id=None,
                       initializer_range=0.02)
    model = GlmForCausalLM(config).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    log(f'model: {n_params} parameters, config {json.dumps(shape)}')

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': args.weight_decay}, {'params': no_decay, 'weight_decay': 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-8, fused=(device == 'cuda'))
    autocast = torch.autocast(device_type='cuda', dtype=torch.bfloat16) if device == 'cuda' else torch.autocast('cpu', enabled=False)

    total_steps = args.steps if args.steps > 0 else None
    budget = args.minutes * 60 if not args.smoke else 20
    step, epoch, t_train, tokens = 0, 0, time.time(), 0
    history = []
    model.train()
    done = False
    batch_tokens = args.batch_tokens if not args.smoke else 4096
    while not done:
        epoch += 1
        for batch in make_batches(convs, batch_tokens, rng):
            if total_steps is None and step == 60:
                # time the first 60 steps and fix the step count for the cosine schedule
                if device == 'cuda':
                    torch.cuda.synchronize()
                per_step = (time.time() - t_train) / 60
                total_steps = max(100, int(budget / per_step))
                log(f'timing: {per_step * 1000:.1f} ms/step -> {total_steps} steps for {budget:.0f} s')
            ts = total_steps or 10 ** 9
            warm = min(args.warmup, ts // 10)
            lr = args.lr * (step + 1) / warm if step < warm else \
                args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, ts - warm)))))
            for g in opt.param_groups:
                g['lr'] = lr
            ids, lab = collate(convs, batch, sp['<|endoftext|>'], device)
            with autocast:
                logits = model(input_ids=ids).logits
            loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, V), lab[:, 1:].reshape(-1), ignore_index=-100)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            tokens += ids.numel()
            if step % 200 == 0 or step == 1:
                l = loss.item()
                history.append({'step': step, 'epoch': epoch, 'loss': round(l, 4), 'lr': lr, 's': round(time.time() - t_train, 1)})
                log(f'step {step}/{total_steps} epoch {epoch} loss {l:.4f} lr {lr:.2e} {time.time() - t_train:.0f}s')
            if total_steps is not None and step >= total_steps:
                done = True
                break
    train_seconds = time.time() - t_train
    log(f'trained {step} steps, {epoch} epochs, {tokens} padded tokens, {train_seconds:.0f} s')

    # 3. round to float16: that is the model; save it in float32 and float16
    model.eval()
    model = model.half().float()
    model.config.use_cache = True
    model.generation_config.eos_token_id = stop
    model.generation_config.pad_token_id = sp['<|endoftext|>']
    model.save_pretrained(f32_dir)
    model.half().save_pretrained(f16_dir, max_shard_size='12MB')
    model.float()
    log('saved', f32_dir, f16_dir)

    # 4. quick check with transformers (float32 math on the float16-valued weights)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    t_eval = time.time()
    by_set, samples = {}, []
    for e in evals:
        answer = greedy(model, enc, enc.prompt(e['messages']), stop, 160, device)
        ok = matches(answer, e['expected'])
        s = by_set.setdefault(e['set'], [0, 0])
        s[0] += ok
        s[1] += 1
        samples.append({'set': e['set'], 'word': e['word'], 'answer': answer, 'expected': e['expected'], 'match': ok})
    report = {
        'params': n_params, 'config': model.config.to_dict(), 'vocab': V, 'steps': step, 'epochs': epoch,
        'train_seconds': round(train_seconds, 1), 'padded_tokens': tokens, 'args': vars(args),
        'quick_eval_greedy': {k: {'hits': v[0], 'of': v[1], 'share': v[0] / v[1]} for k, v in by_set.items()},
        'eval_seconds': round(time.time() - t_eval, 1), 'history': history,
        'device': torch.cuda.get_device_name() if device == 'cuda' else 'cpu', 'torch': torch.__version__,
        'total_seconds': round(time.time() - t_start, 1),
    }
    with open(os.path.join(args.out, 'report.json'), 'w') as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(args.out, 'samples.jsonl'), 'w') as f:
        for s in samples:
            f.write(json.dumps(s, ensure_ascii=False) + '\n')
    log(json.dumps({k: report[k] for k in ('params', 'steps', 'epochs', 'train_seconds', 'quick_eval_greedy', 'eval_seconds', 'total_seconds')}, indent=1))
    for s in [x for x in samples if not x['match']][:15]:
        log(f"BAD {s['set']} {s['word']}: {s['answer']!r}  <- {s['expected']!r}")


if __name__ == '__main__':
    main()
