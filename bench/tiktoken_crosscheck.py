# GPU-machine half of the GLM-4 tiktoken cross-check (see bench/tiktoken-crosscheck.ts for the other half).
# Compares, on the files that half wrote:
#   1. our ids with Python tiktoken's, the Encoding built as THUDM's tokenization_chatglm.py builds it
#      (GLM-4's pat_str, the rank file, the special tokens matched in text);
#   2. our decoded text with tiktoken's decode;
#   3. our ids with transformers' PreTrainedTokenizerFast on the same vocabulary's tokenizer.json;
#   4. our chat renderings (text and ids) with transformers' apply_chat_template and the original template.
# Prints counts and the first mismatches; exits 1 on any mismatch.
import base64
import json
import sys

import tiktoken
from transformers import PreTrainedTokenizerFast

# GLM-4's split pattern, as in THUDM/glm-4-9b-chat tokenization_chatglm.py (typed here independently of ours).
PAT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

d = sys.argv[1]
ranks = {}
with open(f"{d}/tokenizer.model", encoding="utf-8") as f:
    for line in f:
        if line.strip():
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
config = json.load(open(f"{d}/tokenizer_config.json", encoding="utf-8"))
specials = {v["content"]: int(k) for k, v in config["added_tokens_decoder"].items()}
enc = tiktoken.Encoding(name="glm4-mini", pat_str=PAT, mergeable_ranks=ranks, special_tokens=specials)
fast = PreTrainedTokenizerFast(tokenizer_file=f"{d}/tokenizer.json")
fast.chat_template = config["chat_template"]

ours = json.load(open(f"{d}/ours.json", encoding="utf-8"))
bad = {"tiktoken ids": [], "tiktoken decode": [], "transformers ids": [], "chat text": [], "chat ids": []}
for case in ours:
    text, ids = case["text"], case["ids"]
    ref = enc.encode(text, allowed_special="all")
    if ref != ids:
        bad["tiktoken ids"].append((text, ids, ref))
    if enc.decode(ids) != case["decoded"]:
        bad["tiktoken decode"].append((text, case["decoded"], enc.decode(ids)))
    hf = fast.encode(text, add_special_tokens=False)
    if hf != ids:
        bad["transformers ids"].append((text, ids, hf))

chats = json.load(open(f"{d}/chats.json", encoding="utf-8"))
for chat in chats:
    text = fast.apply_chat_template(chat["messages"], tokenize=False, add_generation_prompt=True)
    ids = fast.apply_chat_template(chat["messages"], tokenize=True, add_generation_prompt=True)
    if hasattr(ids, "keys"):
        ids = ids["input_ids"]
    if text != chat["text"]:
        bad["chat text"].append((chat["messages"], chat["text"], text))
    if list(ids) != chat["ids"]:
        bad["chat ids"].append((chat["messages"], chat["ids"], list(ids)))

import tiktoken as _t, transformers as _tr
print(f"tiktoken {_t.__version__}, transformers {_tr.__version__}")
print(f"strings: {len(ours)} ({sum(len(c['ids']) for c in ours)} tokens), chats: {len(chats)}")
for k, v in bad.items():
    total = len(chats) if k.startswith("chat") else len(ours)
    print(f"{k}: {total - len(v)}/{total} equal")
    for item in v[:5]:
        print("  MISMATCH", json.dumps(item, ensure_ascii=False)[:600])
sys.exit(1 if any(bad.values()) else 0)
