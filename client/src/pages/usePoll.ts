import { useEffect } from 'react';
import { ApiError } from '../api';
import { useLiveTally } from '../hooks';
import { usePollQuery } from '../queries';
import type { Poll, PollStatus } from '../types';

/** A poll (GET /api/polls/{id} through TanStack Query) and its live tally (the app's WebSocket). */
export function usePoll(id: string, adminToken: string | null = null) {
  const query = usePollQuery(id, adminToken);
  const poll: Poll | null = query.data ?? null;
  const live = useLiveTally(poll ? id : null, adminToken);
  const { seed } = live;

  useEffect(() => {
    if (poll?.tally) seed(poll.tally, poll.status);
  }, [poll, seed]);

  const notFound =
    (query.error instanceof ApiError && query.error.status === 404) || live.error?.code === 'poll_not_found';
  const status: PollStatus | null = live.tally.status ?? poll?.status ?? null;
  return { query, poll, live, tally: live.tally, notFound, status, deleted: live.tally.deleted };
}
