import { errorText } from '../api';
import { Link } from '../router';
import { ErrorBox } from './ErrorBox';

export function NotFoundCard({ what = 'This poll does not exist, or it was deleted.' }: { what?: string }) {
  return (
    <main id="main" className="page">
      <section className="card" data-testid="not-found">
        <h1 tabIndex={-1}>Poll not found</h1>
        <p>{what}</p>
        <p>
          <Link href="/" className="btn">
            Go to the home page
          </Link>
        </p>
      </section>
    </main>
  );
}

/** DESIGN.md §8's own "page not found" (the server answers 404 with this app for unknown paths). */
export function PageNotFound() {
  return (
    <main id="main" className="page">
      <section className="card" data-testid="page-not-found">
        <h1 tabIndex={-1}>Page not found</h1>
        <p>There is no page at this address. Check the link, or join a poll with its code on the home page.</p>
        <p>
          <Link href="/" className="btn btn-primary">
            Go to the home page
          </Link>
        </p>
      </section>
    </main>
  );
}

export function Loading() {
  return (
    <main id="main" className="page">
      <p className="loading" role="status">
        Loading…
      </p>
    </main>
  );
}

/** A load that failed (after its retries): the reason and a way to try again. */
export function LoadFailed({ error, onRetry }: { error: unknown; onRetry: () => void }) {
  return (
    <main id="main" className="page">
      <section className="card">
        <h1 tabIndex={-1}>The poll could not be loaded</h1>
        <ErrorBox message={errorText(error)} />
        <p>
          <button type="button" className="btn btn-primary" onClick={onRetry}>
            Try again
          </button>
        </p>
      </section>
    </main>
  );
}
