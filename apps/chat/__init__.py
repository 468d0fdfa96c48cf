"""The chat reference app: its canister (canister/, chat.did) and its page at /chat/."""
