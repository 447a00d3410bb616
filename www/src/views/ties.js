// Events of one millisecond, put in the room's order.
//
// The room view places each event by its time, and events that share a millisecond in the
// order they reach it. That is the room's order for live events and for a resync reading
// forward, but not when an older page comes after newer events (scrolling back, or a new
// subscription's first page landing around the view's first history page): the older event
// of a tie then goes after the newer one. Several messages in one millisecond are common in
// a busy room, and servers with second-precision stamps tie far more. Only the SDK knows
// the archive's order (it stores each room in it, docs/js-api.md "Order"), and history()
// returns events in it; so a tie on screen is settled afterwards from history(): the stored
// events just before the first newer event on screen, and the tied nodes are put in that
// order among themselves. `#messages[data-settling]` is set while ties wait for it.
import { eventKey } from '../format.js';

// A history page oldest first (the SDK returns it so; this keeps the view right if not).
export function ascending(events) {
  if (events.length > 1 && events[0].timestamp > events[events.length - 1].timestamp) {
    return [...events].reverse();
  }
  return events;
}

export class Ties {
  // history(opts) -> the SDK's history page of the view's room.
  constructor(list, history) {
    this.list = list;
    this.history = history;
    this.waiting = new Set(); // times (ms) with a tie to settle
    this.running = null;
  }

  // After `node` was placed: a neighbour of the same time makes a tie to settle.
  placed(node) {
    const ts = node.dataset.ts;
    const same = (n) => Boolean(n?.dataset.key) && !n.dataset.pending && n.dataset.ts === ts;
    if (!same(node.previousElementSibling) && !same(node.nextElementSibling)) return;
    this.waiting.add(ts);
    this.list.dataset.settling = '1';
    if (!this.running) this.running = this.run();
  }

  async run() {
    // The rest of a page is usually placed in the same task: settle once for all of it.
    await new Promise((resolve) => setTimeout(resolve, 0));
    try {
      while (this.waiting.size) {
        const [ts] = this.waiting;
        this.waiting.delete(ts);
        await this.settle(ts);
      }
    } finally {
      this.running = null;
      delete this.list.dataset.settling;
    }
  }

  tied(ts) {
    return [...this.list.children].filter((n) => n.dataset.key && !n.dataset.pending && n.dataset.ts === ts);
  }

  async settle(ts) {
    const tied = this.tied(ts);
    if (tied.length < 2) return;
    // The first newer event on screen with an archive id: the stored page before it ends
    // with the tie (no such event: the newest page). It asks for as many events as are
    // shown from the tie on, all stored, so it never reaches past the store into the archive
    // (events the view does not show, such as presence, may keep it short of the tie's
    // oldest: only those it holds are ordered then).
    let next = tied[tied.length - 1].nextElementSibling;
    let limit = tied.length;
    while (next && !(next.dataset.stanzaId && !next.dataset.pending)) {
      if (next.dataset.key && !next.dataset.pending) limit++;
      next = next.nextElementSibling;
    }
    let page;
    try {
      page = await this.history({ before: next?.dataset.stanzaId, limit });
    } catch {
      return; // the tie keeps the order it arrived in; nothing is lost
    }
    const rank = new Map(ascending(page?.events ?? []).map((ev, i) => [eventKey(ev), i]));
    // What is on screen now (more may have come meanwhile); only the events the page ranks
    // move, among their own places.
    const ranked = this.tied(ts).filter((n) => rank.has(n.dataset.key));
    const sorted = [...ranked].sort((a, b) => rank.get(a.dataset.key) - rank.get(b.dataset.key));
    if (sorted.every((n, i) => n === ranked[i])) return;
    const fromBottom = this.list.scrollHeight - this.list.scrollTop;
    const marks = ranked.map((n) => {
      const mark = document.createComment('');
      n.replaceWith(mark);
      return mark;
    });
    marks.forEach((mark, i) => mark.replaceWith(sorted[i]));
    this.list.scrollTop = this.list.scrollHeight - fromBottom;
  }
}
