export { RoomClient } from './client.js';
export { closeAction, reconnectDelay } from './policy.js';
export { CloseCode, ErrorCode, RoomError } from './errors.js';
/**
 * @typedef {import('./types.js').User} User
 * @typedef {import('./types.js').Camera} Camera
 * @typedef {import('./types.js').Role} Role
 * @typedef {import('./types.js').Peer} Peer
 * @typedef {import('./types.js').State} State
 * @typedef {import('./types.js').StateChange} StateChange
 * @typedef {import('./types.js').RoomClientOptions} RoomClientOptions
 * @typedef {import('./types.js').Welcome} Welcome
 * @typedef {import('./types.js').PresenceEvent} PresenceEvent
 * @typedef {import('./types.js').CursorEvent} CursorEvent
 * @typedef {import('./types.js').SelectEvent} SelectEvent
 * @typedef {import('./types.js').EditEvent} EditEvent
 * @typedef {import('./types.js').FollowEvent} FollowEvent
 * @typedef {import('./types.js').ResyncEvent} ResyncEvent
 * @typedef {import('./types.js').RoleEvent} RoleEvent
 * @typedef {import('./types.js').PresentingEvent} PresentingEvent
 * @typedef {import('./types.js').RoomErrorEvent} RoomErrorEvent
 * @typedef {import('./types.js').RoomEvents} RoomEvents
 * @typedef {import('./types.js').Edit} Edit
 * @typedef {import('./types.js').EditResult} EditResult
 * @typedef {import('./errors.js').ErrorCodeName} ErrorCodeName
 */
