// The agent's version, from package.json at bundle time.
import { version } from "../../package.json";

export const VERSION: string = version;
