import { z } from "zod";

/**
 * What a team may set for the embedded store: its virtual keys' prefix, and the description and tags its writes
 * keep.
 */
export const localTeamSettings = z.strictObject({
  prefix: z.string().optional(),
  description: z.string().optional(),
  tags: z.record(z.string(), z.string()).optional(),
});
