/**
 * One mail of the Inbox demo as the page receives it (`/inbox/mails.json`,
 * written at build time from the SpamAssassin corpus), and the guard the page
 * reads that file through: a file it cannot read is an error on the page,
 * never an inbox of half-parsed mails.
 */

export interface InboxMail {
  /** `group/id` in the corpus, unique. */
  id: string;
  subject: string;
  /** The body, cut to what the page shows (and what the model reads). */
  body: string;
  /** What the model is given: the subject, a blank line, the body (as `flock simulate` feeds it). */
  text: string;
}

/** The file the build writes: which corpus the mails came from, and the mails in inbox order. */
export interface InboxMailFile {
  source: string;
  mails: InboxMail[];
}

/** Thrown when mails.json is not an InboxMailFile. */
export class InboxMailFileError extends Error {
  constructor(message: string) {
    super(`mails.json: ${message}; rebuild the demo (npm run build:demo)`);
    this.name = 'InboxMailFileError';
  }
}

const isText = (v: unknown): v is string => typeof v === 'string';

/**
 * @throws InboxMailFileError naming the first thing wrong
 *
 * @example
 * const { mails } = readInboxMailFile(await (await fetch('/inbox/mails.json')).json());
 */
export function readInboxMailFile(data: unknown): InboxMailFile {
  if (typeof data !== 'object' || data === null) throw new InboxMailFileError('expected an object');
  const { source, mails } = data as { source?: unknown; mails?: unknown };
  if (!isText(source)) throw new InboxMailFileError('"source" must be a string');
  if (!Array.isArray(mails) || mails.length === 0) throw new InboxMailFileError('"mails" must be a non-empty array');
  const seen = new Set<string>();
  mails.forEach((m: unknown, i) => {
    const mail = (typeof m === 'object' && m !== null ? m : {}) as Record<string, unknown>;
    for (const field of ['id', 'subject', 'body', 'text'] as const)
      if (!isText(mail[field])) throw new InboxMailFileError(`mails[${i}].${field} must be a string`);
    if (seen.has(mail.id as string)) throw new InboxMailFileError(`mails[${i}].id "${String(mail.id)}" repeats`);
    seen.add(mail.id as string);
  });
  return { source, mails: mails as InboxMail[] };
}
