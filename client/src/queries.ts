// Server state through TanStack Query: one QueryClient, no retries of final (4xx) answers,
// the query keys and hooks the pages share.

import { QueryClient, useInfiniteQuery, useQueries, useQuery } from '@tanstack/react-query';
import { api, isFinal } from './api';
import type { OrganizerRecord } from './storage';

export function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        retry: (failures, err) => !isFinal(err) && failures < 3,
        retryDelay: (n) => Math.min(8_000, 500 * 2 ** n),
        staleTime: 5_000,
        refetchOnWindowFocus: false,
      },
      mutations: {
        // Only a lost connection is worth another try; the same variables carry the same
        // Idempotency-Key, so a retry never creates a second poll or ballot.
        retry: (failures, err) => !isFinal(err) && failures < 2,
        retryDelay: (n) => 800 * 2 ** n,
      },
    },
  });
}

export const keys = {
  poll: (id: string, adminToken: string | null = null) => ['poll', id, adminToken] as const,
  publicPolls: ['polls', 'public'] as const,
  ballot: (id: string, by: string) => ['ballot', id, by] as const,
  code: (id: string, code: string) => ['code', id, code] as const,
};

export function usePollQuery(id: string, adminToken: string | null = null) {
  return useQuery({
    queryKey: keys.poll(id, adminToken),
    queryFn: ({ signal }) => api.getPoll(id, adminToken, signal),
  });
}

export function usePublicPolls() {
  return useInfiniteQuery({
    queryKey: keys.publicPolls,
    queryFn: ({ pageParam }) => api.listPolls(pageParam),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
}

/** The polls this browser organizes, each read with its admin token. */
export function useOrganizedPolls(list: { id: string; record: OrganizerRecord }[]) {
  return useQueries({
    queries: list.map(({ id, record }) => ({
      queryKey: keys.poll(id, record.token),
      queryFn: ({ signal }: { signal: AbortSignal }) => api.getPoll(id, record.token, signal),
      staleTime: 15_000,
    })),
  });
}
