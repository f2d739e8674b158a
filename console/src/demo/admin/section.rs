//! The pieces the sections share, so that every section has the same structure, ids and
//! accessible names, and a fix to one reaches them all.

use std::future::Future;
use std::hash::Hash;

use leptos::attr::custom::custom_attribute;
use leptos::prelude::*;
use leptos::tachys::view::keyed::SerializableKey;

use super::api::ApiError;
use super::{Console, List, Panel};

/// A section's heading with its "Refresh" button.
#[component]
fn SectionHead(
    /// The heading's id, for the section's `aria-labelledby`.
    id: String,
    /// The heading text.
    title: &'static str,
    /// Accessible name of the refresh button ("Refresh users").
    refresh_label: &'static str,
    /// Reloads the section's list.
    on_refresh: Callback<()>,
) -> impl IntoView {
    view! {
        <div class="section-head">
            <h2 id=id>{title}</h2>
            <button
                type="button"
                class="sg-secondary refresh"
                aria-label=refresh_label
                on:click=move |_| on_refresh.run(())
            >
                "Refresh"
            </button>
        </div>
    }
}

/// A list's loading, failure and empty states.
#[component]
fn ListStatus<T: Send + Sync + 'static>(
    /// The list.
    list: List<T>,
    /// What to say when the list is empty.
    empty_text: &'static str,
) -> impl IntoView {
    view! {
        <Show when=move || list.error.with(Option::is_some)>
            <p class="form-error" role="alert">{move || list.error.get().unwrap_or_default()}</p>
        </Show>
        <Show when=move || !list.loaded.get()>
            <p class="muted" role="status">"Loading…"</p>
        </Show>
        <Show when=move || list.loaded.get() && list.items.with(Vec::is_empty)>
            <p class="muted">{empty_text}</p>
        </Show>
    }
}

/// A panel's action error and notice.
#[component]
fn PanelMessages(
    /// The panel.
    panel: Panel,
) -> impl IntoView {
    view! {
        <Show when=move || panel.error.with(Option::is_some)>
            <p class="form-error" role="alert">{move || panel.error.get().unwrap_or_default()}</p>
        </Show>
        <p class="notice" role="status">{move || panel.notice.get()}</p>
    }
}

/// One section of the console: heading and refresh button, the list's states, the
/// panel's messages, the list as a table, then whatever else the section holds.
#[component]
pub fn AdminSection<T, K, KF, R, RF>(
    /// The section's id, which the table of contents links to; the heading's is
    /// `{id}-title`.
    id: &'static str,
    /// The heading text.
    title: &'static str,
    /// Accessible name of the refresh button ("Refresh users").
    refresh_label: &'static str,
    /// Reloads the list.
    on_refresh: Callback<()>,
    /// The list the table shows.
    list: List<T>,
    /// The rows to show when not the whole list (a filtered page of it).
    #[prop(optional, into)]
    shown: Option<Signal<Vec<T>>>,
    /// Controls between the messages and the table (a filter and pager).
    #[prop(optional)]
    controls: Option<AnyView>,
    /// What to say when the list is empty.
    empty_text: &'static str,
    /// The section's actions. A read-only section has none, and so no `aria-busy`.
    #[prop(optional)]
    panel: Option<Panel>,
    /// A remark between the heading and the list.
    #[prop(optional)]
    note: Option<&'static str>,
    /// The table's class, for sections whose table is styled apart.
    #[prop(optional)]
    table_class: Option<&'static str>,
    /// The column headers, in order.
    headers: &'static [&'static str],
    /// Whether a last column holds each row's buttons; its header is for screen readers.
    #[prop(optional)]
    actions: bool,
    /// Tells the rows apart, so that a refresh keeps each row (and focus) in place.
    key: KF,
    /// One row of the table.
    row: RF,
    /// What follows the table, such as a create form.
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    K: Eq + Hash + SerializableKey + 'static,
    KF: Fn(&T) -> K + Send + Sync + Clone + 'static,
    R: IntoView + 'static,
    RF: Fn(T) -> R + Send + Sync + Clone + 'static,
{
    let title_id = format!("{id}-title");
    let table_label = title_id.clone();
    view! {
        <section
            id=id
            class="admin-section"
            aria-busy=move || panel.map(Panel::busy)
            aria-labelledby=title_id.clone()
        >
            <SectionHead id=title_id.clone() title refresh_label on_refresh />
            {note.map(|note| view! { <p class="muted">{note}</p> })}
            <ListStatus list empty_text />
            {panel.map(|panel| view! { <PanelMessages panel /> })}
            {controls}
            <Show when=move || list.items.with(|l| !l.is_empty())>
                // On narrow screens a wide table scrolls in its box: the box takes the
                // keyboard focus so it can be scrolled without a pointer.
                <div
                    class="table-wrap"
                    tabindex="0"
                    role="group"
                    aria-labelledby=table_label.clone()
                >
                    <table class=table_class>
                        <thead>
                            <tr>
                                {headers
                                    .iter()
                                    .map(|header| view! { <th scope="col">{*header}</th> })
                                    .collect_view()}
                                {actions
                                    .then(|| {
                                        view! {
                                            <th scope="col">
                                                <span class="visually-hidden">"Actions"</span>
                                            </th>
                                        }
                                    })}
                            </tr>
                        </thead>
                        <tbody>
                            <For
                                each=move || shown.map_or_else(|| list.items.get(), |s| s.get())
                                key=key.clone()
                                children=row.clone()
                            />
                        </tbody>
                    </table>
                </div>
            </Show>
            {children.map(|children| children())}
        </section>
    }
}

/// A select's options: an empty first one that asks for a choice, then one per item.
#[component]
pub fn Choices(
    /// The first option's text ("Choose a user").
    placeholder: &'static str,
    /// Each option's value and text.
    options: Signal<Vec<(i64, String)>>,
) -> impl IntoView {
    view! {
        <option value="">{placeholder}</option>
        <For
            each=move || options.get()
            key=|option| option.clone()
            children=|(value, text)| view! { <option value=value.to_string()>{text}</option> }
        />
    }
}

/// A select and the button that acts on its choice, such as "Assign role".
#[component]
pub fn PickAndAct<A, F>(
    /// The console's shared state.
    console: Console,
    /// The section's actions.
    panel: Panel,
    /// The select's class.
    select_class: &'static str,
    /// The select's accessible name.
    select_label: String,
    /// The select's first option ("Choose a role").
    placeholder: &'static str,
    /// The items to choose from: each one's id and name.
    options: Signal<Vec<(i64, String)>>,
    /// The button's class.
    button_class: &'static str,
    /// The button's accessible name.
    button_label: String,
    /// The button's text.
    button_text: &'static str,
    /// The error shown when the button is pressed before anything is chosen.
    unchosen: &'static str,
    /// The action, given the chosen id.
    action: A,
) -> impl IntoView
where
    A: Fn(i64) -> F + Copy + 'static,
    F: Future<Output = Result<(), ApiError>> + 'static,
{
    let choice = RwSignal::new(String::new());
    let act = move |_| match choice.with(|c| c.parse::<i64>().ok()) {
        Some(chosen) => console.act(panel, async move {
            action(chosen).await?;
            // Only a success clears the choice, so a failed action can be retried as is.
            choice.try_set(String::new());
            Ok(())
        }),
        None => panel.error.set(Some(unchosen.to_string())),
    };
    view! {
        <select
            class=select_class
            aria-label=select_label
            prop:value=move || choice.get()
            on:change=move |ev| choice.set(event_target_value(&ev))
        >
            <Choices placeholder options />
        </select>
        <button type="button" class=button_class aria-label=button_label on:click=act>
            {button_text}
        </button>
    }
}

/// A row's items as chips, each with a button that removes it.
#[component]
pub fn RemovableChips<V, VF>(
    /// The items: what the removal needs, and the name the chip shows.
    items: VF,
    /// Shows the names as code (scopes) rather than as plain text.
    #[prop(optional)]
    code: bool,
    /// The remove buttons' class.
    button_class: &'static str,
    /// The data attribute that carries each chip's name, for scripts and tests.
    data: &'static str,
    /// The remove buttons' text.
    text: &'static str,
    /// How each button's accessible name starts: "{label_verb} {name} from {owner}".
    label_verb: &'static str,
    /// Whose items these are, for the buttons' accessible names.
    owner: String,
    /// Removes one item.
    on_remove: Callback<V>,
) -> impl IntoView
where
    V: Clone + Eq + Hash + Send + Sync + 'static,
    VF: Fn() -> Vec<(V, String)> + Send + 'static,
{
    let owner = StoredValue::new(owner);
    view! {
        <ul class="chips">
            <For
                each=items
                key=|item| item.clone()
                children=move |(item, name)| {
                    let label = format!("{label_verb} {name} from {}", owner.get_value());
                    let shown = if code {
                        view! { <code>{name.clone()}</code> }.into_any()
                    } else {
                        view! { <span>{name.clone()}</span> }.into_any()
                    };
                    view! {
                        <li class="chip">
                            {shown}
                            <button
                                type="button"
                                class=button_class
                                aria-label=label
                                on:click=move |_| on_remove.run(item.clone())
                                {..custom_attribute(data, name)}
                            >
                                {text}
                            </button>
                        </li>
                    }
                }
            />
        </ul>
    }
}

/// A create form: its heading, the fields, and the submit button named like the form.
#[component]
pub fn CreateForm(
    /// Prefix of the form's ids: the heading is `{id}-title`, the button `{id}-create`.
    id: &'static str,
    /// The heading, which is also the submit button's text ("Create user").
    title: &'static str,
    /// Creates the item; the page is not reloaded.
    on_submit: Callback<()>,
    /// The fields.
    children: Children,
) -> impl IntoView {
    let title_id = format!("{id}-title");
    let submit = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        on_submit.run(());
    };
    // The server validates; native constraints would hide its message behind a tooltip.
    view! {
        <form class="create-form" on:submit=submit aria-labelledby=title_id.clone() novalidate>
            <h3 id=title_id.clone()>{title}</h3>
            <div class="fields">
                {children()}
                <button id=format!("{id}-create") type="submit" class="sg-primary">
                    {title}
                </button>
            </div>
        </form>
    }
}

/// One labelled field of a create form.
#[component]
pub fn TextField(
    /// The input's id, which the label points at.
    id: &'static str,
    /// The label text.
    label: &'static str,
    /// The text typed so far.
    value: RwSignal<String>,
    /// Hides the typed text and lets password managers offer a new password.
    #[prop(optional)]
    password: bool,
    /// An example of what to type.
    #[prop(optional)]
    placeholder: Option<&'static str>,
    /// Whether the field may stay empty.
    #[prop(optional)]
    optional: bool,
    /// Whether the field takes a whole row, for long input.
    #[prop(optional)]
    wide: bool,
) -> impl IntoView {
    view! {
        <div class=if wide { "field field-wide" } else { "field" }>
            <label for=id>{label}</label>
            <input
                id=id
                type=password.then_some("password")
                autocomplete=if password { "new-password" } else { "off" }
                placeholder=placeholder
                aria-required=(!optional).then_some("true")
                bind:value=value
            />
        </div>
    }
}

/// How many rows a long table shows at once.
pub const PAGE_SIZE: usize = 20;

/// A table's filter text and current page.
#[derive(Clone, Copy)]
pub struct Paging {
    /// Rows are shown when their text contains this (case-insensitive).
    pub filter: RwSignal<String>,
    /// The page shown, from 0.
    pub page: RwSignal<usize>,
}

impl Paging {
    /// No filter, first page.
    pub fn new() -> Self {
        Paging {
            filter: RwSignal::new(String::new()),
            page: RwSignal::new(0),
        }
    }

    /// The items whose `text` contains the filter (tracked).
    pub fn matching<T: Clone>(self, items: &[T], text: impl Fn(&T) -> String) -> Vec<T> {
        let needle = self.filter.get().trim().to_lowercase();
        items
            .iter()
            .filter(|item| needle.is_empty() || text(item).to_lowercase().contains(&needle))
            .cloned()
            .collect()
    }

    /// The current page of `rows` (tracked); a page past the end shows the last one.
    pub fn page_of<T: Clone>(self, rows: &[T]) -> Vec<T> {
        let last_page = rows.len().saturating_sub(1) / PAGE_SIZE;
        let page = self.page.get().min(last_page);
        rows.iter()
            .skip(page * PAGE_SIZE)
            .take(PAGE_SIZE)
            .cloned()
            .collect()
    }
}

/// A long table's filter box and pager.
#[component]
pub fn TableControls(
    /// Prefix of the controls' ids (`{id}-filter`, `{id}-prev`, `{id}-next`).
    id: &'static str,
    /// What the rows are, plural ("sessions"), for labels.
    what: &'static str,
    /// The table's filter and page.
    paging: Paging,
    /// How many rows match the filter.
    #[prop(into)]
    matching: Signal<usize>,
) -> impl IntoView {
    let pages = move || matching.get().div_ceil(PAGE_SIZE).max(1);
    let page = move || paging.page.get().min(pages() - 1);
    view! {
        <div class="table-controls">
            <label for=format!("{id}-filter")>{format!("Filter {what}")}</label>
            <input
                id=format!("{id}-filter")
                type="search"
                autocomplete="off"
                prop:value=move || paging.filter.get()
                on:input=move |ev| {
                    paging.filter.set(event_target_value(&ev));
                    paging.page.set(0);
                }
            />
            <button
                id=format!("{id}-prev")
                type="button"
                class="sg-secondary"
                aria-label=format!("Previous page of {what}")
                on:click=move |_| paging.page.set(page().saturating_sub(1))
            >
                "Previous"
            </button>
            <span class="muted" role="status">
                {move || {
                    format!(
                        "Page {} of {} ({} {what})",
                        page() + 1,
                        pages(),
                        matching.get(),
                    )
                }}
            </span>
            <button
                id=format!("{id}-next")
                type="button"
                class="sg-secondary"
                aria-label=format!("Next page of {what}")
                on:click=move |_| paging.page.set((page() + 1).min(pages() - 1))
            >
                "Next"
            </button>
        </div>
    }
}

/// How much of an id the tables show: enough to tell ids apart ("ses_3kTq9x…").
const SHORT_ID_CHARS: usize = 10;

/// `id` cut to its first characters, with "…" when anything was cut.
pub fn short_id(id: &str) -> String {
    if id.chars().count() <= SHORT_ID_CHARS + 1 {
        id.to_string()
    } else {
        let short: String = id.chars().take(SHORT_ID_CHARS).collect();
        format!("{short}…")
    }
}

/// A shortened text with the full one on demand (a disclosure widget, so keyboard and
/// screen reader users can open it too).
#[component]
pub fn Abbreviated(
    /// What the cell shows.
    short: String,
    /// What it shows when opened.
    full: String,
) -> impl IntoView {
    if short == full {
        return view! { <code class="id">{full}</code> }.into_any();
    }
    view! {
        <details class="short-id">
            <summary>
                <code class="id">{short}</code>
                <span class="visually-hidden">" (show in full)"</span>
            </summary>
            <code class="id full-id">{full}</code>
        </details>
    }
    .into_any()
}

/// An id shortened to its first characters; the full value on demand.
#[component]
pub fn ShortId(
    /// The full id.
    id: String,
) -> impl IntoView {
    view! { <Abbreviated short=short_id(&id) full=id /> }
}
