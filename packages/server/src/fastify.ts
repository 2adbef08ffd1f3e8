import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpEndpoint } from './http';
import { HTTP_METHODS } from './http';
import type { UnifiedWebSocketService } from './service';

/** The part of a Fastify instance the plugin uses (so this package does not depend on Fastify). */
export interface FastifyInstanceLike {
  removeAllContentTypeParsers(): void;
  addContentTypeParser(
    contentType: string,
    parser: (request: unknown, payload: unknown, done: (error: Error | null, body?: unknown) => void) => void,
  ): void;
  route(options: {
    method: string[];
    url: string;
    handler: (request: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): void }) => void;
  }): unknown;
}

/**
 * The HTTP API as a Fastify plugin (tested with Fastify 5): one route per endpoint at the configured paths (under the
 * registration's `prefix`), answered by unisocket on the raw request and response (`reply.hijack()`).
 *
 * The plugin is encapsulated: inside it, Fastify's body parsers are replaced by one that leaves the body unread, so
 * `POST /broadcast` applies unisocket's own limits and messages (`http.maxBodyBytes` → 413, non-JSON → 415, bad JSON
 * → 400); the rest of your app keeps its parsers.
 *
 * @example
 * ```ts
 * const app = Fastify();
 * await app.register(fastifyPlugin(service));               // or { prefix: '/realtime' }
 * await service.initialize(app.server);
 * await app.listen({ port: 3000 });
 * ```
 */
export function fastifyPlugin(service: UnifiedWebSocketService): (instance: FastifyInstanceLike) => Promise<void> {
  return async (instance) => {
    instance.removeAllContentTypeParsers();
    instance.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
    for (const [endpoint, url] of Object.entries(service.httpPaths) as [HttpEndpoint, string][]) {
      // every method, so that wrong ones get unisocket's 405 with an Allow header (and CORS preflights their 204)
      const methods = [
        ...new Set([...HTTP_METHODS[endpoint], 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']),
      ];
      instance.route({
        method: methods,
        url,
        handler: (request, reply) => {
          reply.hijack();
          service.handleHttpEndpoint(endpoint, request.raw, reply.raw);
        },
      });
    }
  };
}
