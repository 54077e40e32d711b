import { describe, expect, it } from 'vitest';
import {
  isHeldOut,
  loadSpamAssassin,
  mailText,
  SPAM_ASSASSIN_SIZE,
  spamAssassinSplit,
  splitMail,
} from './spamassassin.ts';

describe('SpamAssassin corpus', () => {
  it('reads every mail of the package with its label from its folder', () => {
    const mails = loadSpamAssassin();
    expect(mails).toHaveLength(SPAM_ASSASSIN_SIZE);
    expect(mails.filter((m) => m.label === 1)).toHaveLength(1896);
    expect(mails.every((m) => m.label === (m.group.startsWith('spam') ? 1 : 0))).toBe(true);
    expect(new Set(mails.map((m) => m.id)).size).toBe(SPAM_ASSASSIN_SIZE);
  });

  it('holds out a fixed fifth, by MD5, that the training side never contains', () => {
    const { train, test } = spamAssassinSplit();
    expect(train.length + test.length).toBe(SPAM_ASSASSIN_SIZE);
    expect(test.length / SPAM_ASSASSIN_SIZE).toBeGreaterThan(0.18);
    expect(test.length / SPAM_ASSASSIN_SIZE).toBeLessThan(0.22);
    const held = new Set(test.map((m) => m.id));
    expect(train.some((m) => held.has(m.id))).toBe(false);
    expect(test.every((m) => isHeldOut(m.md5))).toBe(true);
    // Both classes are in the held-out split.
    expect(test.filter((m) => m.label === 1).length).toBeGreaterThan(300);
  });

  it('keeps the subject and the body, not the relay headers', () => {
    const mail = splitMail('Received: from relay.example\r\nSubject: Cheap\r\n  pills\r\nFrom: x@y\r\n\r\nBuy now');
    expect(mail).toEqual({ subject: 'Cheap pills', body: 'Buy now' });
    expect(mailText(mail)).toBe('Cheap pills\n\nBuy now');
    expect(mailText(mail)).not.toContain('relay');
  });
});
