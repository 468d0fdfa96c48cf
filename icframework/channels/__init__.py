"""Django Channels adapters: canister events to WebSocket subscribers.

`events` owns the bridge from the replica's committed events to the channel layer;
`consumers` the WebSocket consumer clients subscribe with; `routing` the URL patterns.
The protocol is documented in docs/events.md.
"""
