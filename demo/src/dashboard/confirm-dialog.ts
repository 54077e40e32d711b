/**
 * The confirmation every operator action goes through: a modal <dialog>
 * (demo/dashboard/index.html) saying what will happen, with a required
 * reason that the action sends to the audit log. Resolves on either button
 * or Escape, so a caller never waits on a dialog that cannot answer.
 */

const el = <T extends HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the dashboard lacks #${id}`);
  return found as T;
};

export interface ReasonRequest {
  title: string;
  detail: string;
  confirmLabel: string;
  danger: boolean;
}

/**
 * @returns the reason typed (trimmed), or null when cancelled
 * @example
 * const reason = await askReason({ title: 'Abort?', detail: 'Everyone goes back to v1.', confirmLabel: 'Abort', danger: true });
 */
export function askReason(request: ReasonRequest): Promise<string | null> {
  const dialog = el<HTMLDialogElement>('confirm');
  const reason = el<HTMLTextAreaElement>('confirm-reason');
  const ok = el<HTMLButtonElement>('confirm-ok');
  el('confirm-title').textContent = request.title;
  el('confirm-detail').textContent = request.detail;
  ok.textContent = request.confirmLabel;
  ok.classList.toggle('danger', request.danger);
  reason.value = '';
  dialog.returnValue = '';
  dialog.showModal();
  reason.focus();
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => resolve(dialog.returnValue === 'ok' && reason.value.trim() ? reason.value.trim() : null),
      { once: true },
    );
  });
}

/** Wire the cancel button once at start-up (the confirm button submits the dialog's form). */
export function bindConfirmDialog(): void {
  const dialog = el<HTMLDialogElement>('confirm');
  el('confirm-cancel').addEventListener('click', () => dialog.close(''));
}
