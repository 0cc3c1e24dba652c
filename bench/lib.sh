# Shared helpers of the benchmark scripts (sourced).

# One timed run of the function "$1": prints "wall utilisation%" where utilisation is
# (user + sys) / (wall x cores).
time_once() {
  local times wall user sys
  times=$( { TIMEFORMAT='%R %U %S'; time $1; } 2>&1 | tail -1 )
  read -r wall user sys <<<"$times"
  echo "$wall $(awk -v w="$wall" -v u="$user" -v s="$sys" -v c="$(nproc)" 'BEGIN{printf "%.0f", 100*(u+s)/(w*c)}')"
}

median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

# Runs each named function once per round, RUNS rounds, taking turns so that a slow spell of
# the machine (a shared VM) falls on all of them alike. Appends "name wall util" lines to $1.
run_rounds() {
  local file=$1; shift
  : >"$file"
  for round in $(seq "$RUNS"); do
    local line="  round $round:"
    for way in "$@"; do
      read -r wall util < <(time_once "$way")
      echo "$way $wall $util" >>"$file"
      line="$line $way ${wall}s"
    done
    echo "$line"
  done
}

# Median wall time and utilisation of one way from a run_rounds file.
way_wall() { awk -v w="$2" '$1==w{print $2}' "$1" | median; }
way_util() { awk -v w="$2" '$1==w{print $3}' "$1" | median; }
