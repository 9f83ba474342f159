//! The account's stored ACCEPT and SILENCE lists.

use ferry_store::{ListEntry, ListKind};
use tracing::warn;

use crate::ctx::{then, Ctx};

/// Saves an ACCEPT or SILENCE edit for a logged-in account.
pub(crate) fn persist_list(
    cx: &mut Ctx<'_>,
    kind: ListKind,
    add: Vec<ListEntry>,
    remove: Vec<String>,
) {
    let Some(account) = cx.s.account.clone() else {
        return;
    };
    if add.is_empty() && remove.is_empty() {
        return;
    }
    let server = cx.server_arc();
    cx.defer(async move {
        let r = server
            .store(move |s| s.edit_list(&account, kind, false, &add, &remove))
            .await;
        then(move |cx: &mut Ctx<'_>| {
            if let Err(e) = r {
                warn!(error = %e, "could not save a list");
                cx.fail(
                    "TEMPORARILY_UNAVAILABLE",
                    &[],
                    "Your list could not be saved",
                );
            }
        })
    });
}
