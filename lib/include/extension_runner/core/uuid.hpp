#pragma once
/**
 * @file uuid.hpp
 * Random identifiers in the form Lambda gives its own (request ids, extension identifiers [EXT]).
 */
#include <string>

namespace extension_runner {

/**
 * A random RFC 4122 version-4 UUID, lower-case (`xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`).
 * Thread-safe: each thread draws from its own generator, seeded from std::random_device.
 */
std::string random_uuid();

}  // namespace extension_runner
