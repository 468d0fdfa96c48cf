// Tips in the marketplace's token: the ledger is the ICRC-1/ICRC-2 canister recorded as
// `marketplace_token` (the page config names it). A tip is two signed calls, as a
// marketplace checkout is: `icrc2_approve` on the ledger for the amount plus the
// transfer fee with the video canister as spender, then `tip` on the video canister,
// which moves the amount from the viewer to the creator (`icrc2_transfer_from`). The
// dialog shows the viewer's balance, and the marketplace's faucet is a link away.

import {
  Actor, IDL, Principal, parseDid,
} from '../icframework/ic.js';
import { $, $$, tagOf } from './dom.js';

export class Wallet {
  constructor(app) {
    this.app = app;
    this.ledger = null;
    this.decimals = 8;
    this.symbol = '';
  }

  bind() {
    const market = this.app.config.marketplaceUrl;
    if (market) $('#tip-market').href = market;
  }

  async connect() {
    if (this.ledger) return this.ledger;
    if (!this.app.config.ledgerId || !this.app.config.ledgerDidUrl) {
      throw new Error('tips need the marketplace token: deploy the marketplace (python manage.py runreplica --demo) and reload');
    }
    const did = await (await fetch(this.app.config.ledgerDidUrl)).text();
    const { idlFactory } = parseDid(IDL, did);
    this.ledger = Actor.createActor(idlFactory, { agent: this.app.agent, canisterId: Principal.fromText(this.app.config.ledgerId) });
    const [decimals, symbol] = await Promise.all([this.ledger.icrc1_decimals(), this.ledger.icrc1_symbol()]);
    this.decimals = Number(decimals);
    this.symbol = symbol;
    return this.ledger;
  }

  format(units) {
    const scale = 10n ** BigInt(this.decimals);
    const whole = BigInt(units) / scale;
    const rest = (BigInt(units) % scale).toString().padStart(this.decimals, '0').replace(/0+$/, '');
    return `${whole}${rest ? `.${rest}` : ''} ${this.symbol}`.trim();
  }

  toUnits(text) {
    const [whole, fraction = ''] = String(text).trim().split('.');
    if (!/^\d+$/.test(whole) || !/^\d*$/.test(fraction) || fraction.length > this.decimals) {
      throw new Error(`"${text}" is not an amount: write it like 1 or 0.5`);
    }
    return BigInt(whole) * 10n ** BigInt(this.decimals) + BigInt(fraction.padEnd(this.decimals, '0') || '0');
  }

  async balance() {
    return this.ledger.icrc1_balance_of({ owner: this.app.principal, subaccount: [] });
  }

  async tip(card) {
    await this.app.requireMe('tip creators');
    await this.connect();
    const dialog = $('#tip');
    const form = $('#tip-form');
    const handle = card.creator.handle;
    $('#tip-title').textContent = `Tip @${handle}`;
    const [balance, fee] = await Promise.all([this.balance(), this.ledger.icrc1_fee()]);
    $('#tip-balance').textContent = this.format(balance);
    $('#tip-fee').textContent = `plus the ledger's fee of ${this.format(fee)} for the transfer and ${this.format(fee)} for the approval`;
    $('#tip-get').hidden = balance > 0n;
    for (const close of $$('.close', dialog)) close.onclick = () => dialog.close();
    const box = this.app.errorBoxFor(form);
    box.hidden = true;
    dialog.showModal();
    await new Promise((resolve) => {
      const onSubmit = (event) => {
        event.preventDefault();
        this.app.busy(form, async () => {
          const amount = this.toUnits(form.amount.value);
          if (amount <= 0n) throw new Error('a tip is more than 0');
          const approved = await this.ledger.icrc2_approve({
            spender: { owner: this.app.canisterId, subaccount: [] },
            amount: amount + fee, fee: [], memo: [], from_subaccount: [],
            created_at_time: [], expected_allowance: [], expires_at: [],
          });
          if ('Err' in approved) throw new Error(`the ledger refused the approval: ${tagOf(approved.Err)}`);
          const block = await this.app.api.tip(card.video.id, amount);
          dialog.close();
          this.app.toast(`You tipped @${handle} ${this.format(amount)} (ledger block ${block}).`);
        });
      };
      const onClose = () => {
        form.removeEventListener('submit', onSubmit);
        dialog.removeEventListener('close', onClose);
        resolve();
      };
      form.addEventListener('submit', onSubmit);
      dialog.addEventListener('close', onClose);
    });
  }
}
