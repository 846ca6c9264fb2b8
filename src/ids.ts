// Ids people type or paste: scenario runs and sessions, given to the CLI as arguments. nanoid's
// default alphabet has `-`, and an id that starts with it reads as an option to a command line
// (`faultline report -08MC…` is "unknown option"), so these use letters and digits only: 21 of
// 62 symbols, about 125 bits, as unguessable as nanoid's 21 of 64.

import { customAlphabet } from 'nanoid';

export const publicId = customAlphabet('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', 21);
