export { RoomClient } from './client.js';
export { closeAction, reconnectDelay } from './policy.js';
