/**
 * Pusher-compatible lifecycle webhooks: endpoint options and their resolver, the signed Pusher body, and the
 * dispatcher that batches events into queue jobs delivered through a circuit breaker per endpoint.
 * @packageDocumentation
 */
export {
  DEFAULT_WEBHOOK_EVENTS,
  LIFECYCLE_EVENTS,
  type ChannelLifecycleEvent,
  type ClientLifecycleEvent,
  type ConnectionLifecycleEvent,
  type LifecycleEvent,
  type LifecycleEventName,
  type MemberLifecycleEvent,
} from './events';
export {
  DEFAULT_WEBHOOK_OPTIONS,
  MAX_WEBHOOK_ENDPOINTS,
  MIN_WEBHOOK_SECRET_LENGTH,
  resolveWebhooks,
  type ResolvedWebhookEndpoint,
  type WebhookDefaults,
  type WebhookEndpointOptions,
  type WebhookSigningApp,
  type WebhooksConfig,
  type WebhooksOption,
} from './options';
export { type WebhookBody, verifyWebhook, webhookBody, webhookHeaders, webhookSignature } from './body';
export { WebhookStatusError } from './delivery';
export {
  WEBHOOK_JOB,
  WebhookDispatcher,
  type WebhookBreaker,
  type WebhookBreakers,
  type WebhookDispatcherEvents,
  type WebhookDispatcherOptions,
  type WebhookDispatcherStats,
  type WebhookJobData,
} from './dispatcher';
