// The system libyaml (event API), never a vendored copy: we set our own depth, size and alias limits on top.
#ifndef CACHET_CYAML_SHIM_H
#define CACHET_CYAML_SHIM_H
#include <yaml.h>
#endif
