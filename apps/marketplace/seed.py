"""Demo data for the marketplace: the payment token with test funds, the marketplace
canister, two shops with a few items and their pictures — what ``runreplica --demo`` adds.

How it works (like the chat seeder, `icframework.demo`): in the server process, before
the HTTP interface opens, it deploys the demo token (`apps.marketplace.token`; demo
sellers and buyers get 1,000 MKT each), builds and installs ``apps/marketplace``
(recorded as ``marketplace``, its install argument naming the token) and, for each demo
shop that has no listings yet, opens it and lists its items, each with a picture that
`apps.marketplace.images` draws (a bicycle, a teapot, …). A
second start adds nothing. When the demo's chat canister is recorded (the chat seeder
runs first), the two are wired for order conversations: the marketplace is installed
(or upgraded) with ``chat`` naming it, and the chat canister, unless it already trusts
this marketplace, is upgraded with ``marketplace`` naming it (its install argument;
the demo's chat has no platform moderators, so the argument's empty list keeps it
so). Both canisters are deployed by, and controlled only by, the
demo's admin identity (`icframework.demo.admin_identity`, ``<state dir>/admin.pem``);
canisters an older version left to the anonymous principal are handed to the admin.
The demo users' keys are generated on first use and kept in
``<state dir>/demo/market-users.json`` (demo data the server holds; real users' keys
stay in their browsers). The minter's key is kept there too: it lets the demo page's
faucet (`faucet`) give new browser users test tokens.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from icframework.candid import encode, parse_did, parse_values
from icframework.compiler.app_build import build_app
from icframework.core import Principal
from icframework.demo import (
    TypedCaller,
    admin_identity,
    admin_pem_path,
    demo_keys,
    install_recorded,
    method_table,
)
from icframework.deployments import recorded_id
from icframework.identity import Ed25519Identity
from icframework.replica import CanisterError, Replica, pack_python_module

from .images import picture
from .token import TOKEN_NAME, deploy_token

__all__ = ["DEMO_ITEMS", "demo_identities", "faucet", "png", "run_demo", "seed_demo"]

APP_DIR = Path(__file__).resolve().parent
APP_NAME = "marketplace"
CHAT_APP_DIR = APP_DIR.parent / "chat"
CHAT_APP_NAME = "chat"
CANISTER_MODULE = "apps.marketplace.canister"
E8S = 10**8
DEMO_USERS = ("minter", "ana", "ben", "cleo")
#: shop owner -> (shop name, [(title, description, price in MKT, quantity, category)]);
#: each item's picture is `apps.marketplace.images.picture` of its lower-cased title
DEMO_ITEMS: dict[str, tuple[str, list[tuple[str, str, float, int, str]]]] = {
    "ana": ("Ana's Bikes", [
        ("Blue city bicycle", "Seven gears, a basket and new tyres.", 120, 1, "bikes"),
        ("Red road bicycle", "Light aluminium frame, 54 cm.", 340, 1, "bikes"),
        ("Bicycle lights", "Front and rear, USB charged.", 15, 10, "accessories"),
    ]),
    "ben": ("Ben's Kitchen", [
        ("Cast iron teapot", "1.2 litres, keeps tea warm for an hour.", 45, 3, "kitchen"),
        ("Olive wood spoons", "A set of three, hand carved.", 18, 8, "kitchen"),
    ]),
}


def png(rgb: tuple[int, int, int], size: int = 64) -> bytes:
    """A ``size``×``size`` PNG of one colour with a lighter diagonal (what tests upload)."""
    rows = []
    light = tuple(min(255, c + 80) for c in rgb)
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            row += bytes(light if abs(x - y) < 4 else rgb)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


def demo_identities(state_dir: Path) -> dict[str, Ed25519Identity]:
    """The demo users' identities (created and saved on first use)."""
    return demo_keys(state_dir / "demo" / "market-users.json", DEMO_USERS, create=True)


def _init_arg(did: str, ledger: Principal, admin: Principal,
              chat: Principal | None = None) -> bytes:
    service = parse_did(did)
    assert service.service_args is not None
    chat_text = f'opt principal "{chat.to_text()}"' if chat is not None else "null"
    text = (f'(record {{ ledger = principal "{ledger.to_text()}"; '
            f'admin = opt principal "{admin.to_text()}"; arbiter = null; '
            f"platform_fee_bps = opt 250; ledger_fee = opt 10_000; chat = {chat_text} }})")
    return encode(service.service_args, parse_values(text, service.service_args,
                                                     env=service.env))


def seed_demo(replica: Replica, url: str, state_dir: Path,
              progress: Callable[[str], None] | None = None) -> list[str]:
    """Deploy the token and the marketplace and seed the demo shops; what was done."""
    people = demo_identities(state_dir)
    balances = {people[n].principal: 1_000 * E8S for n in DEMO_USERS if n != "minter"}
    token = deploy_token(replica, url, state_dir, people["minter"].principal, balances,
                         progress)
    built = build_app(APP_DIR, pack_python_module,
                      cache_dir=Path(settings.BASE_DIR) / ".build" / "apps", progress=progress)
    admin = admin_identity(state_dir).principal
    chat = recorded_id(CHAT_APP_NAME, url)
    if chat is not None and replica.canister_record(chat) is None:
        chat = None
    arg = _init_arg(built.did, token.canister_id, people["ana"].principal, chat)
    market, done = install_recorded(replica, url, APP_NAME, built.wasm, admin=admin,
                                    init_arg=arg, upgrade_arg=arg)
    wired = _wire_chat(replica, chat, market, admin, progress) if chat is not None else \
        "no chat canister: order conversations are off"
    call = TypedCaller(replica, market, method_table(CANISTER_MODULE))
    from apps.marketplace.canister.limits import CHUNK_BYTES
    from apps.marketplace.canister.records import ListingInput

    added = []
    for owner, (shop_name, items) in DEMO_ITEMS.items():
        who = people[owner].principal
        if call(who, "my_shop") is None:
            call(who, "open_shop", shop_name, f"Demo shop of {owner}", None, 0)
            added.append(f"shop {shop_name!r}")
        shop = call(who, "my_shop")
        page = call(who, "search", _query(shop.id))
        have = {x.title for x in page.listings}
        for title, description, price, quantity, category in items:
            if title in have:
                continue
            jpeg = picture(title.lower())
            image = call(who, "begin_image_upload", "image/jpeg", len(jpeg))
            for index, start in enumerate(range(0, len(jpeg), CHUNK_BYTES)):
                call(who, "upload_image_chunk", image, index, jpeg[start:start + CHUNK_BYTES])
            call(who, "commit_image", image)
            call(who, "create_listing", ListingInput(title, description, int(price * E8S),
                                                     quantity, category), [image])
            added.append(f"item {title!r}")
    return [
        f"  market:    {url}/market/",
        f"             canister {market.to_text()} ({done}), token {TOKEN_NAME} "
        f"{token.canister_id.to_text()} ({token.done})",
        "             demo shops: " + ", ".join(s for s, _ in DEMO_ITEMS.values())
        + ("; added " + ", ".join(added) if added else "; nothing new to seed"),
        f"             order conversations: {wired}",
        f"             controller: the demo admin {admin.to_text()} "
        f"({admin_pem_path(state_dir)})",
    ]


def _wire_chat(replica: Replica, chat: Principal, market: Principal, admin: Principal,
               progress: Callable[[str], None] | None) -> str:
    """Make the chat canister trust ``market`` to open order rooms (an upgrade with its
    install argument naming it, unless it does already); what was done. A chat
    canister the demo's admin does not control is left as it is."""
    from apps.chat.client import CANISTER_MODULE as CHAT_MODULE

    chat_call = TypedCaller(replica, chat, method_table(CHAT_MODULE))
    if chat_call(admin, "order_marketplace") == market:
        return f"chat {chat.to_text()} already opens this marketplace's order rooms"
    built = build_app(CHAT_APP_DIR, pack_python_module,
                      cache_dir=Path(settings.BASE_DIR) / ".build" / "apps", progress=progress)
    service = parse_did(built.did)
    assert service.service_args is not None
    text = ("(opt record { moderators = vec {}; "
            f'marketplace = opt principal "{market.to_text()}" }})')
    arg = encode(service.service_args, parse_values(text, service.service_args, env=service.env))
    try:
        replica.install_code(chat, built.wasm, arg, mode="upgrade", sender=admin)
    except CanisterError as exc:
        return f"chat {chat.to_text()} was not upgraded to trust this marketplace ({exc})"
    return f"chat {chat.to_text()} upgraded to open this marketplace's order rooms"


def _query(shop_id: int) -> object:
    from apps.marketplace.canister.records import SearchQuery

    return SearchQuery(shop_id=shop_id, include_sold_out=True, limit=100)


def run_demo(replica: Replica, url: str, state_dir: Path,
             progress: Callable[[str], None] | None = None) -> list[str]:
    """`seed_demo` as ``runreplica --demo`` runs it (``ICFRAMEWORK["DEMO_SEEDERS"]``)."""
    return seed_demo(replica, url, state_dir, progress)


def faucet(replica: Replica, url: str, state_dir: Path, to: Principal, amount: int) -> int:
    """Mint ``amount`` demo tokens to ``to`` (signed as the demo minter); the block."""
    token = recorded_id(TOKEN_NAME, url)
    if token is None:
        raise ValueError(f"no {TOKEN_NAME} is recorded: start the replica with --demo")
    minter = demo_identities(state_dir)["minter"].principal
    did = (APP_DIR / "icrc.did").read_text("utf-8")
    service = parse_did(did)
    arg_type = service.env["TransferArg"]
    text = (f'(record {{ to = record {{ owner = principal "{to.to_text()}"; subaccount = null }}; '
            f"amount = {amount}; fee = null; memo = null; from_subaccount = null; "
            "created_at_time = null })")
    reply = replica.update(token, "icrc1_transfer",
                           encode([arg_type], parse_values(text, [arg_type], env=service.env)),
                           sender=minter)
    from icframework.candid import decode

    (result,) = decode(reply, [service.env["TransferResult"]])
    if "Err" in result:
        raise ValueError(f"the faucet could not mint: {result['Err']}")
    return int(result["Ok"])
