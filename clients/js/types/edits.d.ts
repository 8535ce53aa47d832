export class EditQueue {
    /** @type {Map<string, Pending>} in the order made */
    pending: Map<string, Pending>;
    prefix: string;
    count: number;
    /**
     * @param {Edit} edit
     * @returns {Promise<EditResult>} the same promise for an id already pending
     */
    add({ building, op, data, id }: Edit): Promise<EditResult>;
    /**
     * Messages not yet sent on connection `conn`, now marked as sent on it.
     * @param {number} conn
     * @returns {EditMessage[]}
     */
    take(conn: number): EditMessage[];
    /** Forget where the pending edits were sent: the next `take` returns them all. */
    unmark(): void;
    /** @param {{id?: string, seq: number, duplicate?: boolean}} ack */
    ack({ id, seq, duplicate }: {
        id?: string;
        seq: number;
        duplicate?: boolean;
    }): void;
    /**
     * The pending edit `id`, no longer pending.
     * @param {string | undefined} id
     */
    settle(id: string | undefined): Pending | undefined;
    /** @param {Error} error */
    fail(error: Error): void;
}
export type Edit = import("./types.js").Edit;
export type EditResult = import("./types.js").EditResult;
export type EditMessage = {
    type: "edit";
    id: string;
    building: string;
    op: string;
    data?: unknown;
};
export type Pending = {
    msg: EditMessage;
    conn: number;
    promise: Promise<EditResult>;
    resolve: (r: EditResult) => void;
    reject: (e: Error) => void;
};
