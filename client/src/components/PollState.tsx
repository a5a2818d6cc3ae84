import { Link } from '../router';

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

export function Loading() {
  return (
    <main id="main" className="page">
      <p className="loading" role="status">
        Loading…
      </p>
    </main>
  );
}
