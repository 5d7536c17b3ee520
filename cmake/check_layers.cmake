# The dependency direction of src/, checked against the includes (CTest `layers`, label unit):
#   cmake -DSOURCE_DIR=<repository root> -P cmake/check_layers.cmake
# The order is read from README.md, section "Layout": the first indented line after "Dependency direction",
# folders joined by "->", lowest first. A file under src/F, and a public header include/pulmo/H.h owned by F (table below), may
# include "F/..." , "G/..." and the public headers of G only for G = F or G before F in that order. Also checked:
# every folder under src/ is in the order and in the README's layout list, and examples/ includes only pulmo/.
cmake_minimum_required(VERSION 3.18)
if(NOT SOURCE_DIR)
  message(FATAL_ERROR "usage: cmake -DSOURCE_DIR=<repository root> -P check_layers.cmake")
endif()

file(READ "${SOURCE_DIR}/README.md" readme)
string(FIND "${readme}" "Dependency direction" at)
set(found "")
if(at GREATER -1)
  string(SUBSTRING "${readme}" ${at} -1 after)
  string(REGEX MATCH "\n +([a-z]+( -> [a-z]+)+)\n" found "${after}")
endif()
if(NOT found)
  message(FATAL_ERROR "README.md: no 'Dependency direction' line followed by 'core -> ... -> cli'")
endif()
set(order "${CMAKE_MATCH_1}")
string(REPLACE " -> " ";" layers "${order}")
set(rank 0)
foreach(layer IN LISTS layers)
  set(rank_${layer} ${rank})
  math(EXPR rank "${rank} + 1")
endforeach()

set(problems "")
file(GLOB folders LIST_DIRECTORIES true RELATIVE "${SOURCE_DIR}/src" "${SOURCE_DIR}/src/*")
foreach(folder IN LISTS folders)
  if(IS_DIRECTORY "${SOURCE_DIR}/src/${folder}")
    if(NOT DEFINED rank_${folder})
      list(APPEND problems "src/${folder}/ is not in the README's dependency direction")
    endif()
    string(FIND "${readme}" "\nsrc/${folder}/ " at)
    if(at EQUAL -1)
      list(APPEND problems "src/${folder}/ is not in the README's layout list")
    endif()
  endif()
endforeach()
foreach(layer IN LISTS layers)
  if(NOT IS_DIRECTORY "${SOURCE_DIR}/src/${layer}")
    list(APPEND problems "the README's dependency direction names '${layer}', which is not a folder under src/")
  endif()
endforeach()

# The folder that implements each public header (pulmo.h, the umbrella header, sits with cli above everything).
set(owners
  error:core fileutil:core runtime:core version:core
  geometry:image volume:image stats:image
  io:io deid:io http:io dicomweb:io dicom_sr:io
  dataset:data labels:data loader:data transforms:data
  synth:synth
  eval:eval eval_set:eval eval_stats:eval
  nn:nn losses:nn model:nn
  train:train train_config:train
  pipeline:pipeline quantify:pipeline
  report:report
  cxr:cxr cxr_model:cxr
  job:app serve:app
  pulmo:cli)
foreach(pair IN LISTS owners)
  string(REPLACE ":" ";" pair "${pair}")
  list(GET pair 0 header)
  list(GET pair 1 folder)
  set(owner_${header} ${folder})
endforeach()
file(GLOB public_headers RELATIVE "${SOURCE_DIR}/include/pulmo" "${SOURCE_DIR}/include/pulmo/*.h")
foreach(header IN LISTS public_headers)
  string(REGEX REPLACE "\\.h$" "" name "${header}")
  if(NOT DEFINED owner_${name})
    list(APPEND problems "include/pulmo/${header} has no owning folder in cmake/check_layers.cmake")
  endif()
endforeach()

# The layer of an included path, or "" for a path outside src/ and include/pulmo/.
function(layer_of path out)
  set(layer "")
  if(path MATCHES "^pulmo/([a-z_0-9]+)\\.h$")
    set(layer "${owner_${CMAKE_MATCH_1}}")
  elseif(path MATCHES "^([a-z]+)/")
    if(DEFINED rank_${CMAKE_MATCH_1})
      set(layer "${CMAKE_MATCH_1}")
    endif()
  endif()
  set(${out} "${layer}" PARENT_SCOPE)
endfunction()

file(GLOB_RECURSE files RELATIVE "${SOURCE_DIR}" "${SOURCE_DIR}/src/*.h" "${SOURCE_DIR}/src/*.cpp"
     "${SOURCE_DIR}/include/pulmo/*.h")
set(checked 0)
foreach(file IN LISTS files)
  if(file MATCHES "^src/([a-z]+)/")
    set(from "${CMAKE_MATCH_1}")
  else()
    get_filename_component(name "${file}" NAME_WE)
    set(from "${owner_${name}}")
  endif()
  if(NOT DEFINED rank_${from})
    continue()
  endif()
  file(STRINGS "${SOURCE_DIR}/${file}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*" "\\1" path "${line}")
    layer_of("${path}" to)
    math(EXPR checked "${checked} + 1")
    if(to AND rank_${to} GREATER rank_${from})
      list(APPEND problems "${file} (${from}) includes \"${path}\" (${to}): ${from} comes before ${to}")
    endif()
  endforeach()
endforeach()

file(GLOB examples RELATIVE "${SOURCE_DIR}" "${SOURCE_DIR}/examples/*.cpp")
foreach(file IN LISTS examples)
  file(STRINGS "${SOURCE_DIR}/${file}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*" "\\1" path "${line}")
    math(EXPR checked "${checked} + 1")
    if(NOT path MATCHES "^pulmo/")
      list(APPEND problems "${file} includes \"${path}\": examples use only the public API (pulmo/)")
    endif()
  endforeach()
endforeach()

list(LENGTH problems count)
if(count GREATER 0)
  string(REPLACE ";" "\n  " text "${problems}")
  message(FATAL_ERROR "layers: ${count} problem(s) against README.md's dependency direction (${order}):\n  ${text}")
endif()
message(STATUS "layers: ${checked} quoted includes checked, all follow ${order}")
