import { createContext, useContext, type ReactNode } from "react";
import type { CarcosaClient } from "@carcosa/client";

// Any client will do: the hooks take route names as strings.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyClient = CarcosaClient<any>;

const ClientContext = createContext<AnyClient | undefined>(undefined);

/** Gives the components and hooks below it a client of the server. */
export function CarcosaProvider({ client, children }: { client: AnyClient; children?: ReactNode }) {
  return <ClientContext.Provider value={client}>{children}</ClientContext.Provider>;
}

/**
 * The client given, or the nearest CarcosaProvider's. It throws when there
 * is neither, a mistake to see on the first render rather than on the first
 * upload.
 */
export function useCarcosaClient(client?: AnyClient): AnyClient {
  const provided = useContext(ClientContext);
  const c = client ?? provided;
  if (!c) {
    throw new Error("@carcosa/react: no client; wrap the component in <CarcosaProvider client={createClient(…)}> or pass client={…}");
  }
  return c;
}
