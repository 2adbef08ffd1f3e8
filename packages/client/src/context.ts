import type { ClientStore } from './client-store';
import type { Emitter } from './emitter';
import type { Link } from './link';
import type { ResolvedClientOptions } from './options';
import type { RequestTable } from './requests';
import type { ClientEvents, ClientStats } from './types';

/**
 * What the parts of one client share: its options, events, counters, request table and store, and the connection
 * commands flow on.
 * @internal
 */
export interface ClientContext {
  readonly options: Readonly<ResolvedClientOptions>;
  readonly events: Emitter<ClientEvents>;
  readonly stats: ClientStats;
  readonly requests: RequestTable;
  readonly store: ClientStore;
  /** The link commands flow on (welcomed, and authenticated when a token is used), while there is one. */
  readyLink(): Link | undefined;
}
