/**
 * Domain errors raised by logic and rendered by each API style in one place.
 * `fault` is the OpenStack fault key; `status` the HTTP status.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly fault: string,
    message: string,
    readonly details = '',
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequest extends ApiError {
  constructor(message: string, details = '') { super(400, 'badRequest', message, details); }
}
export class Unauthorized extends ApiError {
  constructor(message = 'Invalid X-Auth-Token', details = '') { super(401, 'unauthorized', message, details); }
}
export class Forbidden extends ApiError {
  constructor(message = 'Forbidden', details = '') { super(403, 'forbidden', message, details); }
}
export class NotFound extends ApiError {
  constructor(message: string, details = '') { super(404, 'itemNotFound', message, details); }
}
export class NotAllowed extends ApiError {
  constructor(allow: string, message = 'Method not allowed') { super(405, 'notAllowed', message, '', { Allow: allow }); }
}
export class Conflict extends ApiError {
  constructor(message: string, details = '', fault = 'conflict') { super(409, fault, message, details); }
}
export class BuildInProgress extends ApiError {
  constructor(message: string) { super(409, 'buildInProgress', message); }
}
export class OverLimit extends ApiError {
  constructor(message: string, details = '') { super(413, 'overLimit', message, details); }
}
export class ServiceUnavailable extends ApiError {
  constructor(message: string) { super(503, 'serviceUnavailable', message); }
}

/** A failure of the operator's configuration: reported and the process stops. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
