#!/usr/bin/env python3
"""Tokenizer + tiny GLM (transformers' GlmForCausalLM) trained on the WordNet chat turns of make_data.py.

Runs on the GPU machine (PyTorch + transformers + tokenizers); `--smoke` runs a minute-long CPU check of
the whole pipeline with a toy model. Steps:

 1. Byte-level BPE tokenizer (--vocab ids in all) trained on the training split's questions and answers,
    with GLM-4's pre-tokenizer regex, its special tokens and its chat template (tokenizer_config.json).
 2. GlmForCausalLM from GlmConfig (see MODEL below), trained on chat conversations of 1-3 turns drawn from
    the training split (a question paraphrase picked at random per turn), loss on each assistant reply:
    "\n" + answer + <|user|> (the token that ends a GLM-4 reply and opens the next user turn).
 3. The trained weights are rounded to float16 and that model (in float32) is THE model: it is saved in
    float32 (--out/hf-f32) and in float16 (--out/hf-f16, sharded below 16 MiB), both hold the same values.
 4. Evaluation with transformers on that model, float32 math: greedy answers to "What does 'X' mean?" for
    200 training words (the same selection and match rule as evaluate.mjs) and the perplexity of the
    held-out words' definitions (report.json).
"""
import argparse
import json
import math
import os
import random
import re
import sys
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

MODEL = dict(hidden_size=384, num_hidden_layers=8, num_attention_heads=6, num_key_value_heads=2, head_dim=64,
             intermediate_size=1280)
SMOKE_MODEL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                   intermediate_size=96)


def log(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------------------------------------------------
# Match rule and selection, shared with evaluate.mjs (keep the two in step).
# ---------------------------------------------------------------------------------------------------------
def first_sentence(text):
    """Up to the first line break, then up to the first '.', '!' or '?' followed by spaces and a capital."""
    text = text.strip().split('\n')[0]
    m = re.search(r'[.!?](?=\s+[A-Z])', text)
    return text[:m.end()] if m else text


def normalise(text):
    return ' '.join(re.sub(r'[^a-z0-9]+', ' ', text.lower()).split())


def matches(answer, reference):
    return normalise(first_sentence(answer)) == normalise(first_sentence(reference))


def eval_selection(train_words, n=200):
    """n training words spread evenly over the frequency-ranked list (words.jsonl order)."""
    return [train_words[(i * len(train_words)) // n] for i in range(n)]


# ---------------------------------------------------------------------------------------------------------
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
        'model_max_length': 512,
        'added_tokens_decoder': {},
    }
    with open(os.path.join(folder, 'tokenizer_config.json'), 'w') as f:
        json.dump(cfg, f, indent=1, ensure_ascii=False)


class Encoder:
    """Chat ids built piece by piece; equal to tokenizing the rendered template (checked in main)."""

    def __init__(self, tok):
        self.tok = tok
        self.sp = {s: tok.token_to_id(s) for s in SPECIALS}
        self.cache = {}

    def text(self, s):
        ids = self.cache.get(s)
        if ids is None:
            ids = self.tok.encode(s, add_special_tokens=False).ids
            self.cache[s] = ids
        return ids

    def conversation(self, pairs):
        """pairs: [(question, answer)] -> ids, labels (-100 outside the replies). A reply ends with <|user|>,
        which is also the first token of the next question."""
        sp = self.sp
        ids = [sp['[gMASK]'], sp['<sop>']]
        labels = [-100, -100]
        for i, (q, a) in enumerate(pairs):
            part = ([sp['<|user|>']] if i == 0 else []) + self.text('\n' + q) + [sp['<|assistant|>']]
            ids += part
            labels += [-100] * len(part)
            reply = self.reply(a)
            ids += reply
            labels += reply
        return ids, labels

    def prompt(self, question):
        sp = self.sp
        return [sp['[gMASK]'], sp['<sop>'], sp['<|user|>']] + self.text('\n' + question) + [sp['<|assistant|>']]

    def reply(self, answer):
        return self.text('\n' + answer) + [self.sp['<|user|>']]


def make_batches(convs, batch, rng, chunk=64):
    """Length-bucketed batches: sort chunks of `chunk` batches by length, shuffle the batch order."""
    rng.shuffle(convs)
    batches = []
    for s in range(0, len(convs), batch * chunk):
        part = sorted(convs[s:s + batch * chunk], key=lambda c: len(c[0]))
        batches += [part[i:i + batch] for i in range(0, len(part), batch)]
    rng.shuffle(batches)
    return batches


def group_turns(turns, rng, canonical=0.6):
    """One epoch's conversations: shuffled turns grouped 1-3 at a time, a question paraphrase each."""
    order = list(range(len(turns)))
    rng.shuffle(order)
    convs, i = [], 0
    while i < len(order):
        r = rng.random()
        n = 1 if r < 0.7 else 2 if r < 0.9 else 3
        pairs = []
        for j in order[i:i + n]:
            t = turns[j]
            qs = t['questions']
            q = qs[0] if rng.random() < canonical or len(qs) == 1 else rng.choice(qs[1:])
            pairs.append((q, t['messages'][1]['content']))
        convs.append(pairs)
        i += n
    return convs


def collate(batch, pad_id, device):
    L = max(len(x[0]) for x in batch)
    ids = torch.full((len(batch), L), pad_id, dtype=torch.long)
    lab = torch.full((len(batch), L), -100, dtype=torch.long)
    for r, (x, y) in enumerate(batch):
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
    return enc.tok.decode(new, skip_special_tokens=False)


@torch.no_grad()
def reply_nll(model, enc, question, answer, device):
    p, r = enc.prompt(question), enc.reply(answer)
    ids = torch.tensor([p + r], device=device)
    logits = model(ids).logits[0].float()
    lp = torch.log_softmax(logits[len(p) - 1:-1], dim=-1)
    target = torch.tensor(r, device=device)
    return -lp.gather(1, target[:, None]).sum().item(), len(r)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument('--data', default=os.path.join(here, '.data'))
    ap.add_argument('--out', default=os.path.join(here, '.hf'))
    ap.add_argument('--vocab', type=int, default=6144)
    ap.add_argument('--minutes', type=float, default=6.0, help='training time; sets the step count after a timed start')
    ap.add_argument('--steps', type=int, default=0, help='fixed step count instead of --minutes')
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--warmup', type=int, default=200)
    ap.add_argument('--weight-decay', type=float, default=0.01)
    ap.add_argument('--seed', type=int, default=1234)
    ap.add_argument('--eval-words', type=int, default=200)
    ap.add_argument('--smoke', action='store_true', help='toy model, CPU, a few steps: checks the pipeline')
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    device = 'cuda' if torch.cuda.is_available() and not args.smoke else 'cpu'
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    t_start = time.time()

    words = [json.loads(l) for l in open(os.path.join(args.data, 'words.jsonl'))]
    turns = [json.loads(l) for l in open(os.path.join(args.data, 'turns.jsonl'))]
    if args.smoke:
        keep = {w['word'] for w in words[:300]} | {w['word'] for w in words if w['split'] == 'heldout'}
        words = [w for w in words if w['word'] in keep]
        turns = [t for t in turns if t['word'] in keep]
    train_turns = [t for t in turns if t['split'] == 'train']
    train_words = [w for w in words if w['split'] == 'train']
    held_words = [w for w in words if w['split'] == 'heldout']
    log(f'data: {len(words)} words ({len(train_words)} train, {len(held_words)} held out), {len(train_turns)} training turns')

    # 1. tokenizer
    texts = []
    for t in train_turns:
        texts += ['\n' + q for q in t['questions']] + ['\n' + t['messages'][1]['content']]
    tok = train_tokenizer(texts, args.vocab if not args.smoke else 1024)
    V = tok.get_vocab_size()
    f32_dir, f16_dir = os.path.join(args.out, 'hf-f32'), os.path.join(args.out, 'hf-f16')
    for d in (f32_dir, f16_dir):
        write_tokenizer(tok, d)
    enc = Encoder(tok)
    sp = enc.sp
    stop = [sp['<|endoftext|>'], sp['<|user|>'], sp['<|observation|>']]
    log(f'tokenizer: {V} ids, specials {sp}')

    # The piecewise ids must equal what transformers' chat template + tokenizer produce (the engine does that).
    hf_tok = PreTrainedTokenizerFast.from_pretrained(f32_dir)
    for t in train_turns[:50] + [{'messages': [{'role': 'user', 'content': 'a'}, {'role': 'assistant', 'content': 'b'},
                                               {'role': 'user', 'content': 'c'}, {'role': 'assistant', 'content': 'd'}]}]:
        msgs = t['messages']
        pairs = [(msgs[i]['content'], msgs[i + 1]['content']) for i in range(0, len(msgs), 2)]
        ids, _ = enc.conversation(pairs)
        text = hf_tok.apply_chat_template(msgs, tokenize=False) + '<|user|>'
        ref = hf_tok(text, add_special_tokens=False)['input_ids']
        assert ids == ref, (text, ids, ref)
        gen = hf_tok.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True)
        assert enc.prompt(msgs[0]['content']) == hf_tok(gen, add_special_tokens=False)['input_ids'], gen
    log('tokenizer: piecewise chat ids == apply_chat_template ids')

    # 2. model
    shape = SMOKE_MODEL if args.smoke else MODEL
    config = GlmConfig(vocab_size=V, **shape, partial_rotary_factor=0.5, attention_bias=True, rms_norm_eps=1e-5,
                       max_position_embeddings=512, tie_word_embeddings=False, hidden_act='silu',
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

    def epoch_batches():
        convs = [enc.conversation(p) for p in group_turns(train_turns, rng)]
        return make_batches(convs, args.batch if not args.smoke else 16, rng)

    total_steps = args.steps if args.steps > 0 else None
    budget = args.minutes * 60 if not args.smoke else 20
    step, epoch, t_train, tokens = 0, 0, time.time(), 0
    loss_ema = None
    history = []
    model.train()
    done = False
    while not done:
        epoch += 1
        for batch in epoch_batches():
            if total_steps is None and step == 50:
                # time the first 50 steps (after warm-up) and fix the step count for the cosine schedule
                if device == 'cuda':
                    torch.cuda.synchronize()
                per_step = (time.time() - t_train) / 50
                total_steps = max(100, int(budget / per_step))
                log(f'timing: {per_step * 1000:.1f} ms/step -> {total_steps} steps for {budget:.0f} s')
            ts = total_steps or 10 ** 9
            warm = min(args.warmup, ts // 10)
            lr = args.lr * (step + 1) / warm if step < warm else \
                args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, ts - warm)))))
            for g in opt.param_groups:
                g['lr'] = lr
            ids, lab = collate(batch, sp['<|endoftext|>'], device)
            with autocast:
                logits = model(input_ids=ids).logits
            loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, V), lab[:, 1:].reshape(-1), ignore_index=-100)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            tokens += ids.numel()
            if step % 100 == 0 or step == 1:
                l = loss.item()
                loss_ema = l if loss_ema is None else 0.9 * loss_ema + 0.1 * l
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
    model.save_pretrained(f32_dir)  # float32, one model.safetensors
    model.half().save_pretrained(f16_dir, max_shard_size='12MB')
    model.float()
    log('saved', f32_dir, f16_dir)

    # 4. evaluation (transformers, float32 math on the float16-valued weights)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    sel = eval_selection(train_words, min(args.eval_words, len(train_words)))
    samples, hits = [], 0
    t_eval = time.time()
    for w in sel:
        q = f"What does '{w['word']}' mean?"
        answer = greedy(model, enc, enc.prompt(q), stop, 64, device)
        ref = w['definition']
        ok = matches(answer, ref)
        hits += ok
        samples.append({'word': w['word'], 'answer': answer, 'definition': ref, 'match': ok})
    nll, n = 0.0, 0
    for w in held_words:
        a = next(t for t in turns if t['word'] == w['word'] and t['kind'] == 'meaning')['messages'][1]['content']
        s, k = reply_nll(model, enc, f"What does '{w['word']}' mean?", a, device)
        nll += s
        n += k
    # the same on training words, for comparison
    nll_t, n_t = 0.0, 0
    for w in sel:
        a = next(t for t in turns if t['word'] == w['word'] and t['kind'] == 'meaning')['messages'][1]['content']
        s, k = reply_nll(model, enc, f"What does '{w['word']}' mean?", a, device)
        nll_t += s
        n_t += k
    report = {
        'params': n_params, 'config': model.config.to_dict(), 'vocab': V, 'steps': step, 'epochs': epoch,
        'train_seconds': round(train_seconds, 1), 'padded_tokens': tokens, 'args': vars(args),
        'exact_match': {'hits': hits, 'of': len(sel), 'share': hits / len(sel)},
        'heldout_perplexity': {'words': len(held_words), 'tokens': n, 'nll': nll, 'ppl': math.exp(nll / max(1, n))},
        'train_selection_perplexity': {'tokens': n_t, 'ppl': math.exp(nll_t / max(1, n_t))},
        'eval_seconds': round(time.time() - t_eval, 1), 'history': history,
        'device': torch.cuda.get_device_name() if device == 'cuda' else 'cpu', 'torch': torch.__version__,
        'total_seconds': round(time.time() - t_start, 1),
    }
    with open(os.path.join(args.out, 'report.json'), 'w') as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(args.out, 'samples.jsonl'), 'w') as f:
        for s in samples:
            f.write(json.dumps(s, ensure_ascii=False) + '\n')
    log(json.dumps({k: report[k] for k in ('params', 'steps', 'epochs', 'train_seconds', 'exact_match', 'heldout_perplexity',
                                           'train_selection_perplexity', 'eval_seconds', 'total_seconds')}, indent=1))
    for s in samples[:12]:
        log(('OK  ' if s['match'] else 'BAD ') + f"{s['word']}: {s['answer']!r}  <- {s['definition']!r}")


if __name__ == '__main__':
    main()
