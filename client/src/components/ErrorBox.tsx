import { forwardRef } from 'react';

/** An error message in words; role=alert so it is announced when it appears. */
export const ErrorBox = forwardRef<HTMLDivElement, { message: string | null; id?: string }>(function ErrorBox({ message, id }, ref) {
  if (!message) return null;
  return (
    <div className="error-box" role="alert" id={id} ref={ref} tabIndex={-1} data-testid="error">
      {message}
    </div>
  );
});
