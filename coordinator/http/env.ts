/**
 * The Hono environment of the coordinator app: what middleware puts on the
 * context for handlers.
 */
export type Principal = { kind: 'admin'; keyId: string } | { kind: 'device'; deviceId: string; app: string };

export type Env = {
  Variables: {
    principal: Principal;
  };
};
