// The marketplace page: browse and search, an item page, checkout, orders, selling, and
// the arbiter's dispute desk.
//
// Everything runs here with the browser's own key (browserIdentity in the framework
// bundle: a non-extractable WebCrypto key in IndexedDB, shared by every app of this
// origin): queries and calls go to the marketplace and to its token ledger
// through @dfinity/agent, with actors built from marketplace.did and icrc.did. Checkout
// is two signed calls: icrc2_approve on the ledger (price + fee) and checkout on the
// marketplace, which pulls the funds into the order's escrow. Images are uploaded in
// 512 KiB chunks and shown from the canister's http_request on the canister's own origin
// (config.canisterOrigin, <id>.localhost): no canister content runs on this page's origin.
// The demo faucet is a signed call: the page signs a `faucet` call envelope for the ledger
// and POSTs it (application/cbor) to the server, which checks the signature and limits.
// All text is set with textContent: nothing from a canister is parsed as HTML. A refused
// call shows the canister's own reject message in the error line.
//
// Notifications arrive live over the marketplace's canister socket and buyers and sellers
// talk about an order in a private room of the chat canister (live.js).
//
// A visitor browses the shop window at once (queries need no account); while their
// wallet is empty a welcome banner offers the faucet's test tokens and a shop of their own.

import {
  Actor, HttpAgent, IDL, Principal, browserIdentity, parseDid, signCallEnvelope,
} from '../icframework/ic.js';
import { verifyListing } from './certified.js';
import { MarketLive } from './live.js';

// Where earlier versions of the apps kept an extractable key: migrated once, then deleted.
const LEGACY_KEYS = ['icframework.market.identity', 'icframework.chat.identity'];
const E8S = 100000000n;
const NS_PER_HOUR = 3600 * 1e9;
const $ = (selector) => document.querySelector(selector);

function element(tag, { className, text, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

const unopt = (value) => (value.length ? value[0] : null);
const variantTag = (value) => Object.keys(value)[0];

// Token units as a decimal number of MKT ("2.5"), as the forms take it.
function mktNumber(amount) {
  const units = BigInt(amount);
  const whole = units / E8S;
  const frac = (units % E8S).toString().padStart(8, '0').replace(/0+$/, '');
  return `${whole}${frac ? '.' + frac : ''}`;
}

const mkt = (amount) => `${mktNumber(amount)} MKT`;

// The canister's reject message of a refused call, or the error's own message.
function rejectText(error) {
  const code = error && error.cause && error.cause.code;
  if (code && code.rejectMessage) return code.rejectMessage;
  return String((error && error.message) || error);
}

// The image ids of a listing, from its view's URL paths ("/images/<id>").
function imageIds(item) {
  return item.images.map((path) => {
    const found = /^\/images\/(\d+)$/.exec(path);
    if (!found) throw new Error(`listing ${item.id} has an image path ${path} that is not /images/<id>`);
    return BigInt(found[1]);
  });
}

const shortId = (principal) => `${principal.toText().slice(0, 11)}…`;

function toUnits(text) {
  const [whole, frac = ''] = String(text).split('.');
  return BigInt(whole || '0') * E8S + BigInt((frac + '00000000').slice(0, 8));
}

async function actorFrom(url, agent, canisterId) {
  return (await actorAndTypes(url, agent, canisterId)).actor;
}

// The actor and the named Candid types of a .did (events are decoded with the types).
async function actorAndTypes(url, agent, canisterId) {
  const { idlFactory, types } = parseDid(IDL, await (await fetch(url)).text());
  return { actor: Actor.createActor(idlFactory, { agent, canisterId }), types };
}

class Market {
  constructor(config) {
    this.config = config;
    this.identity = null;  // the browser's key, once start() has loaded it
    this.principal = null;
  }

  async start() {
    this.identity = await browserIdentity({ legacyStorageKeys: LEGACY_KEYS });
    this.principal = this.identity.getPrincipal();
    $('#principal').textContent = this.principal.toText().slice(0, 11) + '…';
    this.agent = await HttpAgent.create({
      host: this.config.host, identity: this.identity, shouldFetchRootKey: true,
    });
    const market = await actorAndTypes(this.config.didUrl, this.agent, this.config.canisterId);
    this.market = market.actor;
    this.ledger = await actorFrom(this.config.ledgerDidUrl, this.agent, this.config.ledgerId);
    this.settings = await this.market.market_config();
    const me = this.principal.toText();
    this.arbiter = [this.settings.arbiter, this.settings.admin].some((p) => p.toText() === me);
    $('[data-view=disputes]').hidden = !this.arbiter;
    for (const button of document.querySelectorAll('[data-view]')) {
      button.addEventListener('click', () => this.open(button.dataset.view));
    }
    $('#search-form').addEventListener('submit', (e) => { e.preventDefault(); this.browse(); });
    $('#back').addEventListener('click', () => this.open('browse'));
    $('#buy').addEventListener('click', () => this.buy());
    $('#favourite').addEventListener('click', () => this.toggleFavourite());
    $('#offer-form').addEventListener('submit', (e) => { e.preventDefault(); this.offer(e.target); });
    $('#bid-form').addEventListener('submit', (e) => { e.preventDefault(); this.bid(e.target); });
    $('#faucet').addEventListener('click', () => this.faucet());
    $('#welcome-faucet').addEventListener('click', () => this.faucet());
    for (const button of document.querySelectorAll('[data-go]')) {
      button.addEventListener('click', () => this.open(button.dataset.go));
    }
    $('#shop-form').addEventListener('submit', (e) => { e.preventDefault(); this.openShop(e.target); });
    $('#sell-form').addEventListener('submit', (e) => { e.preventDefault(); this.sell(e.target); });
    $('#edit-form').addEventListener('submit', (e) => { e.preventDefault(); this.saveEdit(e.target); });
    $('#auction-form').addEventListener('submit', (e) => { e.preventDefault(); this.startAuction(e.target); });
    for (const button of document.querySelectorAll('#dashboard .close')) {
      button.addEventListener('click', () => { button.form.hidden = true; });
    }
    $('#more-disputes').addEventListener('click', () => this.guarded(() => this.disputes(true)));
    $('#buy-now').addEventListener('click', () => this.buyNow());
    await this.refreshBalance();
    await this.startLive(market.types);
    await this.open('browse');
  }

  // Notifications and order conversations (live.js); the page works without them.
  async startLive(types) {
    try {
      const chatId = unopt(await this.market.chat_canister());
      const chat = chatId && this.config.chatDidUrl
        ? { ...(await actorAndTypes(this.config.chatDidUrl, this.agent, chatId.toText())), canisterId: chatId.toText() }
        : null;
      this.live = new MarketLive(this, types, chat);
      await this.live.start();
      $('#notifications').dataset.live = 'true';
    } catch (error) {
      this.say(`live notifications are off: ${rejectText(error)}`, true);
    }
  }

  format(amount) {
    return mkt(amount);
  }

  show(id) {
    for (const section of ['browse', 'item', 'orders', 'sell', 'watchlist', 'disputes', 'notifications']) $(`#${section}`).hidden = section !== id;
    const tab = id === 'item' ? 'browse' : id;
    for (const button of document.querySelectorAll('.market-tabs [data-view]')) {
      if (button.dataset.view === tab) button.setAttribute('aria-current', 'page');
      else button.removeAttribute('aria-current');
    }
  }

  say(text, isError = false) {
    const target = isError ? $('#error') : $('#notice');
    (isError ? $('#notice') : $('#error')).hidden = true;
    target.textContent = text;
    target.hidden = !text;
  }

  async guarded(work) {
    try { await work(); } catch (error) { this.say(rejectText(error), true); }
  }

  async open(view) {
    this.nav = (this.nav || 0) + 1;  // a later navigation wins over one still loading
    this.show(view);
    await this.guarded(async () => {
      if (view === 'browse') await this.browse();
      if (view === 'orders') await this.orders();
      if (view === 'sell') await this.sellView();
      if (view === 'watchlist') await this.watchlist();
      if (view === 'disputes') await this.disputes(false);
      if (view === 'notifications' && this.live) this.live.clearUnread();
      await this.refreshBalance();
    });
  }

  async refreshBalance() {
    const balance = await this.ledger.icrc1_balance_of({ owner: this.principal, subaccount: [] });
    $('#balance').textContent = mkt(balance);
    $('#welcome').hidden = balance > 0n;
    return balance;
  }

  async faucet() {
    await this.guarded(async () => {
      const envelope = await signCallEnvelope(this.identity, {
        canisterId: this.config.ledgerId, methodName: 'faucet', arg: IDL.encode([], []),
      });
      const response = await fetch(this.config.faucetUrl, {
        method: 'POST', headers: { 'content-type': 'application/cbor' }, body: envelope,
      });
      if (!response.ok) throw new Error(await response.text());
      await this.refreshBalance();
      this.say('100 test MKT arrived.');
    });
  }

  imageUrl(path) {
    return `${this.config.canisterOrigin}${path}`;
  }

  async browse() {
    const form = $('#search-form');
    const page = await this.market.search({
      text: form.text.value, category: [], shop_id: [], min_price: [], max_price: [],
      include_sold_out: false, sort: form.sort.value, cursor: [], limit: 48,
      status: [form.status.value],
    });
    $('#listings').replaceChildren(...page.listings.map((item) => this.card(item)));
    $('#listings-empty').hidden = page.listings.length > 0;
    $('#browse').dataset.ready = 'true';
  }

  card(item) {
    const picture = item.images.length
      ? element('img', { className: 'card-media', attrs: { src: this.imageUrl(item.images[0]), alt: item.title, loading: 'lazy' } })
      : element('div', { className: 'card-media no-picture', text: '🛍️', attrs: { 'aria-hidden': 'true' } });
    const auction = variantTag(item.status) === 'auction'
      ? element('span', { className: 'badge badge-warning', text: 'auction' }) : '';
    const li = element('li', {
      className: 'card card-link listing-card',
      attrs: { 'data-listing': String(item.id), tabindex: '0', role: 'link', 'aria-label': `${item.title}, ${mkt(item.price)}` },
    }, [
      picture,
      element('div', { className: 'listing-body' }, [
        element('h3', { text: item.title }),
        element('p', { className: 'listing-shop', text: item.shop_name }),
        element('p', { className: 'listing-price' }, [element('strong', { text: mkt(item.price) }), auction]),
      ]),
    ]);
    li.addEventListener('click', () => this.item(item.id));
    li.addEventListener('keydown', (event) => { if (event.key === 'Enter') this.item(item.id); });
    return li;
  }

  async watchlist() {
    const items = await this.market.my_favourites();
    $('#watched').replaceChildren(...items.map((item) => this.card(item)));
  }

  async toggleFavourite() {
    await this.guarded(async () => {
      const watched = (await this.market.my_favourites()).some((x) => x.id === this.current.id);
      await this.market.set_favourite(this.current.id, !watched);
      this.say(watched ? 'Removed from your watchlist.' : 'Added to your watchlist.');
      await this.item(this.current.id);
    });
  }

  async approve(amount) {
    const fee = await this.ledger.icrc1_fee();
    const approved = await this.ledger.icrc2_approve({
      spender: { owner: Principal.fromText(this.config.canisterId), subaccount: [] },
      amount: BigInt(amount) + fee, fee: [], memo: [], from_subaccount: [],
      created_at_time: [], expected_allowance: [], expires_at: [],
    });
    if ('Err' in approved) throw new Error(`the ledger refused the approval: ${variantTag(approved.Err)}`);
  }

  async offer(form) {
    const item = this.current;
    await this.guarded(async () => {
      const amount = toUnits(form.amount.value);
      this.say('Approving the offer…');
      await this.approve(amount);
      const result = await this.market.make_offer(item.id, 1, amount);
      if ('Err' in result) {
        const tag = variantTag(result.Err);
        throw new Error(`the offer failed: ${tag} ${String(result.Err[tag])}`);
      }
      form.reset();
      await this.refreshBalance();
      this.say(`Your offer of ${mkt(amount)} is in escrow until the seller answers.`);
      await this.item(item.id);
    });
  }

  async showAuction(item) {
    const box = $('#auction-box');
    const running = variantTag(item.status) === 'auction'
      ? (await this.market.running_auctions()).find((a) => a.listing_id === item.id) : null;
    this.auction = running || null;
    box.hidden = !running;
    $('#buy').hidden = Boolean(running);
    if (!running) return;
    const leader = unopt(running.leading_bidder);
    const leading = leader
      ? `leading bid ${mkt(running.leading_amount)}${leader.toText() === this.principal.toText() ? ' (yours)' : ''}`
      : 'no bids yet';
    const ends = new Date(Number(running.ends_at / 1000000n)).toLocaleString();
    const extended = running.extensions > 0 ? ` (extended ${running.extensions}× by late bids)` : '';
    $('#auction-state').textContent = `Auction: ${leading}; next bid at least ${mkt(running.next_min_bid)}; `
      + `${running.reserve_met ? 'reserve met' : 'reserve not met'}; ends ${ends}${extended}`;
    const buyNow = unopt(running.buy_now_price);
    $('#buy-now').hidden = buyNow === null || item.seller.toText() === this.principal.toText();
    if (buyNow !== null) $('#buy-now').textContent = `Buy it now for ${mkt(buyNow)}`;
    Object.assign($('#auction-state').dataset, {
      bids: String(running.bids), startsAt: String(running.starts_at), endsAt: String(running.ends_at),
    });
    $('#bid-form').hidden = item.seller.toText() === this.principal.toText();
  }

  async bid(form) {
    const auction = this.auction;
    await this.guarded(async () => {
      const amount = toUnits(form.amount.value);
      this.say('Approving the bid…');
      await this.approve(amount);
      const result = await this.market.place_bid(auction.id, amount);
      if ('Err' in result) {
        const tag = variantTag(result.Err);
        throw new Error(`the bid failed: ${tag} ${String(result.Err[tag])}`);
      }
      form.reset();
      await this.refreshBalance();
      this.say(`Your bid of ${mkt(amount)} is in escrow; it comes back if you are outbid.`);
      await this.item(this.current.id);
    });
  }

  async buyNow() {
    const auction = this.auction;
    await this.guarded(async () => {
      const price = unopt(auction.buy_now_price);
      this.say('Approving the payment…');
      await this.approve(price);
      const result = await this.market.buy_now(auction.id);
      if ('Err' in result) {
        const tag = variantTag(result.Err);
        throw new Error(`buying failed: ${tag} ${String(result.Err[tag])}`);
      }
      await this.refreshBalance();
      this.say(`You bought it for ${mkt(price)}; the order is in My orders.`);
      await this.item(this.current.id);
    });
  }

  async itemDetails(item) {
    await this.showAuction(item);
    const mine = item.seller.toText() === this.principal.toText();
    const offers = await this.market.offers_for(item.id);
    $('#item-offers').replaceChildren(...offers.map((offer) => {
      const li = element('li', { attrs: { 'data-offer': String(offer.id) },
        text: `${mkt(offer.amount)} for ${offer.quantity} · ${offer.buyer.toText().slice(0, 11)}…` });
      const button = (label, work) => {
        const node = element('button', { text: label, attrs: { type: 'button' } });
        node.addEventListener('click', () => this.guarded(async () => {
          await work(); await this.item(item.id); await this.refreshBalance();
        }));
        li.append(' ', node);
      };
      if (mine) {
        button('Accept', () => this.market.accept_offer(offer.id));
        button('Decline', () => this.market.decline_offer(offer.id));
      } else if (offer.buyer.toText() === this.principal.toText()) {
        button('Withdraw', () => this.market.cancel_offer(offer.id));
      }
      return li;
    }));
    $('#offer-form').hidden = mine;
    const reviews = await this.market.reviews(item.id);
    $('#item-reviews').replaceChildren(...reviews.map((r) => element('li', {
      text: `${'★'.repeat(r.rating)}${'☆'.repeat(5 - r.rating)} ${r.text}` })));
    const activity = await this.market.listing_activity(item.id, 0, 50);
    $('#item-activity').replaceChildren(...activity.map((a) => element('li', {
      text: `${new Date(Number(a.at / 1000000n)).toLocaleString()} · ${a.kind}`
        + (a.amount.length ? ` · ${a.kind === 'reviewed' ? a.amount[0] + '★' : mkt(a.amount[0])}` : ''),
    })));
    $('#item-rating').textContent = item.rating_count > 0n
      ? `rated ${item.rating.toFixed(1)} / 5 by ${item.rating_count}` : '';
    const watched = (await this.market.my_favourites()).some((x) => x.id === item.id);
    $('#favourite').textContent = watched ? '♥ Watching' : '♡ Watch';
  }

  async item(id) {
    this.nav = (this.nav || 0) + 1;
    const nav = this.nav;
    await this.guarded(async () => {
      const item = unopt(await this.market.listing(id));
      if (!item) throw new Error(`listing ${id} is gone`);
      this.current = item;
      $('#item-image').src = item.images.length ? this.imageUrl(item.images[0]) : '';
      $('#item-image').alt = item.title;
      $('#item-title').textContent = item.title;
      $('#item-shop').textContent = `sold by ${item.shop_name}`;
      $('#item-description').textContent = item.description;
      $('#item-price').textContent = mkt(item.price);
      $('#item-available').textContent = `${item.available} available`;
      const certified = await this.checkCertified(item);
      $('#buy').disabled = !certified || item.available === 0
        || item.seller.toText() === this.principal.toText();
      if (nav !== this.nav) return;  // the user went elsewhere meanwhile
      this.show('item');
      await this.itemDetails(item);
    });
  }

  // Check, in this browser, that the price, seller, availability and status shown are
  // what the canister certified (certified.js); only then may the user pay.
  async checkCertified(item) {
    const note = $('#item-certified');
    note.dataset.verified = 'pending';
    note.textContent = 'checking the certificate…';
    let verified = false;
    try {
      const proof = await this.market.certified_listing(item.id);
      verified = await verifyListing(this.agent, Principal.fromText(this.config.canisterId), proof, {
        listingId: item.id, seller: item.seller, price: item.price, available: item.available,
        status: Object.keys(item.status)[0],
      });
    } catch (error) {
      console.warn('certified_listing check failed:', error);
      verified = false;
    }
    note.dataset.verified = verified ? 'yes' : 'no';
    note.textContent = verified
      ? 'price, seller and availability verified in this browser against the canister’s certified data'
      : 'the certificate does not confirm this price: do not pay (reload to check again)';
    return verified;
  }

  async buy() {
    const item = this.current;
    await this.guarded(async () => {
      this.say('Approving the payment…');
      await this.approve(item.price);
      this.say('Paying into escrow…');
      const result = await this.market.checkout(item.id, 1);
      if ('Err' in result) {
        const tag = variantTag(result.Err);
        throw new Error(`payment failed: ${tag} ${String(result.Err[tag])}`);
      }
      await this.refreshBalance();
      this.say(`Order ${result.Ok.id} is paid; the seller has been told to ship.`);
      await this.open('orders');
    });
  }

  orderRow(order, asSeller) {
    const status = variantTag(order.status);
    const li = element('li', { attrs: { 'data-order': String(order.id), 'data-status': status } }, [
      element('span', { text: `#${order.id} ${order.title} · ${mkt(order.amount)} · ` }),
      element('span', { className: 'status', text: status }),
      element('span', { text: order.note ? ` — ${order.note}` : '' }),
    ]);
    const action = (label, work) => {
      const button = element('button', { text: label, attrs: { type: 'button' } });
      button.addEventListener('click', () => this.guarded(async () => { await work(); await this.orders(); await this.refreshBalance(); }));
      li.append(' ', button);
    };
    if (asSeller && status === 'paid') action('Mark shipped', () => this.market.ship(order.id, 'sent'));
    if (this.live && status !== 'pending_payment' && status !== 'failed') {
      const talk = element('button', { text: asSeller ? 'Message buyer' : 'Message seller', attrs: { type: 'button', 'data-talk': String(order.id) } });
      talk.addEventListener('click', () => this.guarded(() => this.live.open(order.id)));
      li.append(' ', talk);
    }
    if (!asSeller && (status === 'paid' || status === 'shipped')) {
      action('Confirm delivery', () => this.market.confirm_delivery(order.id));
      action('Dispute', () => this.market.open_dispute(order.id, 'not as described'));
    }
    if (!asSeller && status === 'settled' && !order.reviewed) {
      const rating = element('select', { attrs: { 'aria-label': 'rating' } },
        [5, 4, 3, 2, 1].map((n) => element('option', { text: `${n}★`, attrs: { value: String(n) } })));
      const words = element('input', { attrs: { placeholder: 'Your review', maxlength: '2000' } });
      li.append(' ', rating, ' ', words);
      action('Review', () => this.market.review(order.id, Number(rating.value), words.value));
    }
    return li;
  }

  async orders() {
    const bought = await this.market.my_orders(false, [], 50);
    const sold = await this.market.my_orders(true, [], 50);
    $('#bought').replaceChildren(...bought.map((o) => this.orderRow(o, false)));
    $('#sold').replaceChildren(...sold.map((o) => this.orderRow(o, true)));
  }

  async sellView() {
    const shop = unopt(await this.market.my_shop());
    $('#shop-form').hidden = Boolean(shop);
    $('#sell-form').hidden = !shop;
    $('#dashboard').hidden = !shop;
    if (!shop) return;
    $('#dashboard-title').textContent = shop.name;
    const rating = shop.rating_count > 0n ? ` · rated ${shop.rating.toFixed(1)} / 5` : '';
    $('#dashboard-stats').textContent = `${shop.sales} sold${rating}`;
    const page = await this.market.search({
      text: '', category: [], shop_id: [shop.id], min_price: [], max_price: [],
      include_sold_out: true, sort: 'newest', cursor: [], limit: 100, status: [],
    });
    $('#my-listings tbody').replaceChildren(...page.listings.map((item) => {
      const status = variantTag(item.status);
      const row = element('tr', { attrs: { 'data-listing': String(item.id) } }, [
        element('td', { text: item.title }), element('td', { text: mkt(item.price) }),
        element('td', { text: String(item.available) }), element('td', { text: String(item.sold) }),
        element('td', { text: status }),
      ]);
      const cell = element('td');
      const action = (label, work) => {
        const button = element('button', { text: label, attrs: { type: 'button' } });
        button.addEventListener('click', work);
        cell.append(button, ' ');
      };
      if (status === 'active' || status === 'sold_out') action('Edit', () => this.editListing(item));
      if (status === 'active' && item.available > 0) action('Auction', () => this.auctionListing(item));
      if (status !== 'delisted') {
        const button = element('button', { text: 'Delist', attrs: { type: 'button' } });
        button.addEventListener('click', () => this.guarded(async () => {
          await this.market.delist(item.id); await this.sellView();
        }));
        cell.append(button);
      }
      row.append(cell);
      return row;
    }));
  }

  // The edit form, prefilled with the listing; the listing keeps its images.
  editListing(item) {
    const form = $('#edit-form');
    $('#auction-form').hidden = true;
    this.editing = item;
    $('#edit-title').textContent = `Edit “${item.title}”`;
    form.title.value = item.title;
    form.description.value = item.description;
    form.price.value = mktNumber(item.price);
    form.quantity.value = String(item.available);
    form.category.value = item.category;
    form.hidden = false;
    form.title.focus();
  }

  async saveEdit(form) {
    const item = this.editing;
    await this.guarded(async () => {
      const saved = await this.market.update_listing(item.id, {
        title: form.title.value, description: form.description.value,
        price: toUnits(form.price.value), quantity: Number(form.quantity.value),
        category: form.category.value,
      }, imageIds(item));
      form.hidden = true;
      this.say(`Saved “${saved.title}”.`);
      await this.sellView();
    });
  }

  // The auction form, prefilled for an hour from the listing's price (increment 5 %).
  auctionListing(item) {
    const form = $('#auction-form');
    $('#edit-form').hidden = true;
    this.auctioning = item;
    $('#auction-title').textContent = `Auction “${item.title}” (all ${item.available} as one lot)`;
    const step = item.price / 20n > 0n ? item.price / 20n : 1n;
    form.start.value = mktNumber(item.price);
    form.reserve.value = '0';
    form.increment.value = mktNumber(step);
    form.hours.value = '1';
    form.hidden = false;
    form.start.focus();
  }

  async startAuction(form) {
    const item = this.auctioning;
    await this.guarded(async () => {
      const hours = Number(form.hours.value);
      const auction = await this.market.start_auction(
        item.id, toUnits(form.start.value), toUnits(form.reserve.value),
        toUnits(form.increment.value), BigInt(Math.round(hours * NS_PER_HOUR)));
      if (form.buynow.value) await this.market.set_buy_now(auction.id, [toUnits(form.buynow.value)]);
      form.hidden = true;
      const ends = new Date(Number(auction.ends_at / 1000000n)).toLocaleString();
      this.say(`“${item.title}” is up for auction until ${ends}.`);
      await this.sellView();
    });
  }

  // The arbiter's desk: open disputes, newest first, a page at a time (`more` appends).
  async disputes(more) {
    const list = $('#dispute-list');
    const cursor = more ? [String(list.children.length)] : [];
    const page = await this.market.disputes(cursor, 50);
    const rows = page.map((order) => this.disputeRow(order));
    if (more) list.append(...rows); else list.replaceChildren(...rows);
    $('#more-disputes').hidden = page.length < 50;
    $('#disputes-empty').hidden = list.children.length > 0;
  }

  disputeRow(order) {
    const shipped = order.shipped_at > 0n ? `shipped (${order.shipping_note || 'no note'})` : 'not shipped';
    const li = element('li', { attrs: { 'data-order': String(order.id) } }, [
      element('span', { text: `#${order.id} ${order.title} · ${mkt(order.amount)} · bought by `
        + `${shortId(order.buyer)} from ${shortId(order.seller)} · ${shipped}` }),
      element('br'),
      element('span', { className: 'reason', text: `The buyer says: ${order.dispute_reason}` }),
      element('br'),
    ]);
    const note = element('input', { attrs: { 'aria-label': 'note', maxlength: '500', placeholder: 'Note for both parties' } });
    li.append(note);
    const decide = (label, refundBuyer) => {
      const button = element('button', { text: label, attrs: { type: 'button' } });
      button.addEventListener('click', () => this.guarded(async () => {
        const decided = await this.market.resolve_dispute(order.id, refundBuyer, note.value);
        const what = refundBuyer ? 'refunded the buyer of' : 'paid the seller of';
        this.say(`You ${what} order ${decided.id} (${variantTag(decided.status)}).`);
        await this.disputes(false);
      }));
      li.append(' ', button);
    };
    decide('Refund buyer', true);
    decide('Pay seller', false);
    return li;
  }

  async openShop(form) {
    await this.guarded(async () => {
      await this.market.open_shop(form.name.value, '', [], 0);
      await this.sellView();
    });
  }

  async upload(file) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const chunk = Number(this.settings.chunk_bytes);
    const id = await this.market.begin_image_upload(file.type, bytes.length);
    for (let n = 0, start = 0; start < bytes.length; n += 1, start += chunk) {
      this.say(`Uploading the picture: ${Math.round((100 * start) / bytes.length)} %`);
      await this.market.upload_image_chunk(id, n, bytes.slice(start, start + chunk));
    }
    await this.market.commit_image(id);
    return id;
  }

  async sell(form) {
    await this.guarded(async () => {
      const images = form.image.files.length ? [await this.upload(form.image.files[0])] : [];
      const item = await this.market.create_listing({
        title: form.title.value, description: form.description.value,
        price: toUnits(form.price.value), quantity: Number(form.quantity.value),
        category: form.category.value,
      }, images);
      form.reset();
      this.say(`Listed “${item.title}”.`);
      await this.item(item.id);
    });
  }
}

const configNode = document.getElementById('market-config');
const config = configNode ? JSON.parse(configNode.textContent) : null;
// `window.marketApp`: the running page, for the browser console (and its tests).
const app = config ? new Market(config) : null;
if (app) window.marketApp = app;
if (app) app.start().catch((error) => {
  const target = $('#error');
  target.textContent = `cannot start: ${error.message || error}`;
  target.hidden = false;
});
