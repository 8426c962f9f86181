"""An app's own OpenAI client, unchanged, pointed at a tenant proxy (`openlease session proxy`).

Prints the answer of a completion, then of a streamed one, one line each.
Usage: python openai_chat.py BASE_URL PROMPT MAX_TOKENS
"""
import sys

from openai import OpenAI

base_url, prompt, max_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = OpenAI(base_url=base_url, api_key="not-needed: the proxy pays")
messages = [{"role": "user", "content": prompt}]
answer = client.chat.completions.create(model="openlease-demo", messages=messages, max_tokens=max_tokens)
print(answer.choices[0].message.content)
stream = client.chat.completions.create(model="openlease-demo", messages=messages, max_tokens=max_tokens, stream=True)
print("".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices))
