/**
 * What the Inbox shows for one prediction: spam or not, and the probability
 * of spam. A binary version (one sigmoid, labels ['ham', 'spam'], as
 * `flock model init --template text-hash --output binary --labels ham,spam`
 * writes it) reads directly; a two-class softmax version reads too, so a
 * multiclass model pushed for the app still works. Anything else is refused
 * with a typed error rather than shown as a guess.
 */
import type { Prediction } from 'flock-ml';

export type MailLabel = 'spam' | 'ham';

export interface SpamVerdict {
  label: MailLabel;
  /** Probability of spam, in [0, 1]. */
  spamProbability: number;
}

/** The model of app 'inbox' does not answer spam / not spam. */
export class InboxModelError extends Error {
  constructor(message: string) {
    super(
      `${message}; push a model made with: flock model init --template text-hash --output binary --labels ham,spam`,
    );
    this.name = 'InboxModelError';
  }
}

/**
 * @throws InboxModelError for output kinds other than binary and two-class multiclass
 *
 * @example
 * spamVerdict(await flock.predict(mail.text)) // { label: 'spam', spamProbability: 0.97 }
 */
export function spamVerdict(p: Prediction): SpamVerdict {
  if (p.kind === 'binary') {
    // The positive class is labels[1]; a model that names spam first has ham as its positive side.
    const spamIsPositive = p.labelName === undefined || p.positive === (p.labelName === 'spam');
    const spamProbability = spamIsPositive ? p.probability : 1 - p.probability;
    const isSpam = spamIsPositive ? p.positive : !p.positive;
    return { label: isSpam ? 'spam' : 'ham', spamProbability };
  }
  if (p.kind === 'multiclass' && p.probabilities.length === 2) {
    // Without label names, class 1 is spam (SPAM_LABELS order: ham, spam).
    const spamIndex = p.labelName === undefined ? 1 : p.labelName === 'spam' ? p.label : 1 - p.label;
    const spamProbability = p.probabilities[spamIndex];
    return { label: p.label === spamIndex ? 'spam' : 'ham', spamProbability };
  }
  throw new InboxModelError(`the model answers ${p.kind} with ${p.probabilities.length} outputs`);
}
