# bash completion for nanocell: commands, their options, group names and files.
# Installed as share/bash-completion/completions/nanocell; source it to try it by hand.
# Keep the lists true to `nanocell --help` and `nanocell COMMAND --help`:
# tests/cli/offline_install.sh checks them.

# The data dir, as nanocell resolves it: install.data_dir from the configuration it would read
# (--config, $NANOCELL_CONFIG, the user's, /etc/nanocell), else the default.
_nanocell_data_dir() {
	local cfg="" i dir=""
	for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
		case ${COMP_WORDS[i]} in
		--config) cfg=${COMP_WORDS[i + 1]} ;;
		--config=*) cfg=${COMP_WORDS[i]#--config=} ;;
		esac
	done
	if [[ -z $cfg ]]; then
		local user=${XDG_CONFIG_HOME:-${HOME:-}/.config}/nanocell/config.toml
		if [[ -n ${NANOCELL_CONFIG:-} ]]; then
			cfg=$NANOCELL_CONFIG
		elif [[ -f $user ]]; then
			cfg=$user
		else
			cfg=/etc/nanocell/config.toml
		fi
	fi
	if [[ -r $cfg ]]; then
		dir=$(sed -n 's/^[[:space:]]*data_dir[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$cfg" 2>/dev/null | head -n 1)
	fi
	if [[ -z $dir ]]; then
		if [[ $EUID -eq 0 ]]; then
			dir=/var/lib/nanocell
		else
			dir=${XDG_DATA_HOME:-${HOME:-}/.local/share}/nanocell
		fi
	fi
	printf '%s\n' "$dir"
}

_nanocell_groups() {
	local dir g
	dir=$(_nanocell_data_dir)/groups
	[[ -d $dir ]] || return 0
	for g in "$dir"/*/; do
		[[ -d $g ]] || continue
		g=${g%/}
		printf '%s\n' "${g##*/}"
	done
}

_nanocell() {
	local cur=${COMP_WORDS[COMP_CWORD]}
	local prev=""
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	local commands="run doctor ps gc serve policy send chat groups messages status retry tasks audit"
	local common="--config --host --help"
	COMPREPLY=()

	if ((COMP_CWORD == 1)); then
		COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
		return 0
	fi

	local cmd=${COMP_WORDS[1]} i
	case $prev in
	--config | --api)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0
		;;
	--host)
		COMPREPLY=($(compgen -W "unix:///var/run/docker.sock unix:///run/podman/podman.sock" -- "$cur"))
		return 0
		;;
	--group)
		COMPREPLY=($(compgen -W "$(_nanocell_groups)" -- "$cur"))
		return 0
		;;
	--image | --timeout | --session | --name | --trigger | --after | --limit | --since)
		return 0
		;;
	esac

	# After "--" comes the prompt: nothing to complete.
	for ((i = 2; i < COMP_CWORD; i++)); do
		[[ ${COMP_WORDS[i]} == -- ]] && return 0
	done

	local opts=""
	case $cmd in
	run) opts="$common --group --image --timeout --session --json --verbose --quiet --" ;;
	doctor) opts="$common --json" ;;
	ps) opts="$common --json --quiet" ;;
	gc) opts="$common --all --dry-run" ;;
	serve) opts="$common --api" ;;
	send) opts="--api --group --json --no-wait --help" ;;
	chat) opts="--api --group --help" ;;
	messages) opts="--api --group --after --limit --json --help" ;;
	status) opts="--api --json --help" ;;
	audit) opts="--config --group --since --json --help" ;;
	retry)
		opts="--api --help"
		if [[ $cur != -* ]]; then
			COMPREPLY=($(compgen -W "$(_nanocell_groups)" -- "$cur"))
			return 0
		fi
		;;
	groups)
		if ((COMP_CWORD == 2)) && [[ $cur != -* ]]; then
			COMPREPLY=($(compgen -W "add link chats ls show rm" -- "$cur"))
			return 0
		fi
		opts="--api --main --name --image --trigger --no-trigger --telegram --allow --json --help"
		if ((COMP_CWORD == 3)) && [[ $cur != -* ]]; then
			case ${COMP_WORDS[2]} in
			show | rm | link) COMPREPLY=($(compgen -W "$(_nanocell_groups)" -- "$cur")) ;;
			esac
			return 0
		fi
		;;
	tasks)
		if ((COMP_CWORD == 2)) && [[ $cur != -* ]]; then
			COMPREPLY=($(compgen -W "add ls show pause resume rm" -- "$cur"))
			return 0
		fi
		opts="--api --group --once --cron --every --context --id --script --json --help"
		case $prev in
		--group)
			COMPREPLY=($(compgen -W "$(_nanocell_groups)" -- "$cur"))
			return 0
			;;
		--context)
			COMPREPLY=($(compgen -W "group isolated" -- "$cur"))
			return 0
			;;
		esac
		;;
	policy)
		if ((COMP_CWORD == 2)); then
			COMPREPLY=($(compgen -W "check" -- "$cur"))
			return 0
		fi
		opts="$common"
		if [[ $cur != -* ]]; then
			compopt -o filenames 2>/dev/null
			COMPREPLY=($(compgen -f -- "$cur"))
			return 0
		fi
		;;
	*) return 0 ;;
	esac
	COMPREPLY=($(compgen -W "$opts" -- "$cur"))
	return 0
}

complete -F _nanocell nanocell
